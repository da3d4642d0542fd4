"""The audit store inside the plugin and on the command line: history that survives
restarts, persistent webhook dedupe, `db upgrade` and `history`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gitutil import World
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugin import PluginConfig, ReconcilePlugin, RepoConfig
from webhooks import sign_sha256

SECRET = "s3cret"


def _plugin(app_repo: Path, url: str) -> ReconcilePlugin:
    return ReconcilePlugin(
        PluginConfig(
            repos=(RepoConfig("data", app_repo, poll_interval=0),),
            webhook_secrets={"generic-hmac": (SECRET,)},
            database_url=url,
        )
    )


def _app(plugin: ReconcilePlugin) -> Starlette:
    return Starlette(routes=[plugin.mount("/r")], lifespan=plugin.lifespan())


def _delivery(after: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"ref": "refs/heads/main", "after": after}).encode()
    return body, {"X-Signature": sign_sha256(SECRET, body), "X-Delivery-Id": "delivery-1"}


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
        older = client.get(f"/r/history?limit=5&before_id={runs['next_before_id']}").json()
        outcomes = [r["result"]["outcome"] for r in older["runs"]]
        assert outcomes == ["fast-forwarded"]
        assert client.get("/r/history?outcome=rebased").json()["runs"] == []


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
