"""The audit store inside the plugin and on the command line: history that survives
restarts, persistent webhook dedupe, `db upgrade` and `history`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gitutil import World
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugin import PluginConfig, ReconcilePlugin, RepoConfig, RunRecord
from plugin.audit import WebhookDelivery
from webhooks import sign_sha256

SECRET = "s3cret"


def _plugin(app_repo: Path, url: str | None) -> ReconcilePlugin:
    return ReconcilePlugin(
        PluginConfig(
            repos=(RepoConfig("data", app_repo, poll_interval=0),),
            webhook_secrets={"generic-hmac": (SECRET,)},
            database_url=url,
            admin_token="admin",
        )
    )


def _app(plugin: ReconcilePlugin) -> Starlette:
    return Starlette(routes=[plugin.mount("/r")], lifespan=plugin.lifespan())


def _delivery(
    after: str,
    delivery_id: str | None = "delivery-1",
    ref: str = "refs/heads/main",
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"ref": ref, "after": after}).encode()
    headers = {"X-Signature": sign_sha256(secret, body)}
    if delivery_id is not None:
        headers["X-Delivery-Id"] = delivery_id
    return body, headers


def _deliveries(plugin: ReconcilePlugin) -> list[tuple[str | None, bool, str, str | None]]:
    """Every stored delivery, oldest first: (delivery id, verified, result, repo)."""
    assert plugin.store is not None
    with Session(plugin.store.engine) as session:
        rows = session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all()
    return [(r.delivery_id, r.verified, r.result, r.repo) for r in rows]


def _delivery_counts(client: TestClient) -> dict[str, float]:
    """The webhook deliveries counted by /metrics, by result."""
    return {
        s.labels["result"]: s.value
        for family in text_string_to_metric_families(client.get("/r/metrics").text)
        for s in family.samples
        if s.name == "git_reconcile_webhook_deliveries_total" and s.value
    }


Keys = tuple[frozenset[str], frozenset[str], frozenset[str]]


def _keys(run: dict[str, Any]) -> Keys:
    """The keys of a run's JSON form: the run's, its result's, its operations'."""
    result = run["result"] or {}
    operations = frozenset(k for op in result.get("operations", ()) for k in op)
    return frozenset(run), frozenset(result), operations


def test_history_and_dedupe_survive_a_restart(path_world: World, tmp_path: Path) -> None:
    """Runs and delivery ids are kept in SQLite: a restarted app still has both."""
    world = path_world
    app_repo = world.clone("app")
    url = f"sqlite:///{tmp_path / 'data' / 'audit.sqlite3'}"
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    body, headers = _delivery(new)
    with TestClient(_app(_plugin(app_repo, url))) as client:
        first = client.post("/r/webhooks/generic-hmac", content=body, headers=headers)
        assert first.json()["status"] == "present"  # the boot run already fetched it
    with TestClient(_app(_plugin(app_repo, url))) as client:
        again = client.post("/r/webhooks/generic-hmac", content=body, headers=headers)
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        runs = client.get("/r/history?repo=data&limit=1").json()
        assert len(runs["runs"]) == 1
        assert runs["runs"][0]["triggers"] == ["boot"]
        older = client.get(f"/r/history?limit=5&before={runs['next']}").json()
        outcomes = [r["result"]["outcome"] for r in older["runs"]]
        assert outcomes == ["fast-forwarded"]
        assert older["next"] is None
        assert client.get("/r/history?outcome=rebased").json()["runs"] == []


def test_each_delivery_is_recorded_once_with_its_final_result(
    path_world: World, tmp_path: Path
) -> None:
    """Each delivery leaves one row with what became of it and the repository it was
    matched to (a duplicate adds none), and is counted once in the metrics."""
    world = path_world
    app_repo = world.clone("app")
    plugin = _plugin(app_repo, f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    with TestClient(_app(plugin)) as client:
        new = world.remote_commit({"data.txt": "2\n"}, "remote")
        posts = [
            ("queued", _delivery(new, "d-queued")),
            ("duplicate", _delivery(new, "d-queued")),
            ("present", _delivery(new, "d-present")),
            ("ignored", _delivery(new, "d-other", ref="refs/heads/other")),
            ("unauthorized", _delivery(new, "d-forged", secret="forged")),
            ("present", _delivery(new, None)),
        ]
        for expected, (body, headers) in posts:
            answer = client.post("/r/webhooks/generic-hmac", content=body, headers=headers)
            if expected == "queued":
                assert client.portal is not None
                client.portal.call(plugin.wait_for, answer.json()["run_id"])
            assert answer.json().get("status", "unauthorized") == expected, answer.text
        counted = _delivery_counts(client)
    assert _deliveries(plugin) == [
        ("d-queued", True, "queued", "data"),
        ("d-present", True, "present", "data"),
        ("d-other", True, "ignored", "data"),
        (None, False, "unauthorized", None),
        (None, True, "present", "data"),
    ]
    assert counted == {"queued": 1, "duplicate": 1, "present": 2, "ignored": 1, "unauthorized": 1}


def test_history_has_one_form_with_or_without_a_store(path_world: World, tmp_path: Path) -> None:
    """/history gives runs with the same keys, newest first, and pages with ``next``
    the same way, from the audit store and from memory."""
    world = path_world
    app_repo = world.clone("app")
    pages: dict[str, list[list[str]]] = {}
    keys: dict[str, set[Keys]] = {"memory": set(), "store": set()}
    for mode, url in (("memory", None), ("store", f"sqlite:///{tmp_path / 'audit.db'}")):
        with TestClient(_app(_plugin(app_repo, url))) as client:
            world.remote_commit({"data.txt": f"{mode}\n"}, "remote")
            for _ in range(2):
                client.post("/r/trigger?wait=true", headers={"Authorization": "Bearer admin"})
            pages[mode], cursor = [], ""
            while True:
                got = client.get(f"/r/history?limit=2&before={cursor}").json()
                assert set(got) == {"runs", "next"}
                pages[mode].append([r["triggers"][0] for r in got["runs"]])
                keys[mode].update(_keys(r) for r in got["runs"])
                if got["next"] is None:
                    break
                cursor = got["next"]
    assert pages["memory"] == pages["store"] == [["manual", "manual"], ["boot"]]
    run_keys = set(RunRecord(run_id="x", repo="data", triggers=[], queued_at=0.0).to_dict())
    assert keys["memory"] == keys["store"]
    assert {run for run, _, _ in keys["store"]} == {frozenset(run_keys)}


def test_db_upgrade_and_history_commands(path_world: World, tmp_path: Path) -> None:
    """`db upgrade` creates the schema; `history --json` lists the runs newest first."""
    world = path_world
    app_repo = world.clone("app")
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    upgrade = subprocess.run(
        [sys.executable, "-m", "plugin", "db", "upgrade", "--database-url", url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert "latest schema" in upgrade.stdout
    with TestClient(_app(_plugin(app_repo, url))):
        pass
    listed = subprocess.run(
        [sys.executable, "-m", "plugin", "history", "--database-url", url, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    assert (run["repo"], run["result"]["outcome"]) == ("data", "in-sync")
    table = subprocess.run(
        [sys.executable, "-m", "plugin", "history", "--database-url", url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "in-sync" in table.stdout
