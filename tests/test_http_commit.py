"""The write path over HTTP: POST /commit, GET /commits and /commits/statistics, the
audit store's commits table, and the commits metric."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from commitutil import write
from gitutil import World, git
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugin import PluginConfig, ReconcilePlugin, RepoConfig
from plugin.audit import AuditStore, RepoCommit

ADMIN = "admin-t0ken"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0" + "P9o8N7m6L5k4J3i2"


def _client(
    tree: Path, store: Path | None = None, **kwargs: Any
) -> tuple[TestClient, ReconcilePlugin]:
    plugin = ReconcilePlugin(
        PluginConfig(
            repos=(RepoConfig("data", tree, poll_interval=0),),
            admin_token=kwargs.pop("admin_token", ADMIN),
            database_url=None if store is None else f"sqlite:///{store}",
        )
    )
    app = Starlette(routes=[plugin.mount("/reconcile")], lifespan=plugin.lifespan())
    return TestClient(app), plugin


def test_post_commit_answers_as_trigger_does(path_world: World) -> None:
    """POST /commit gives 202 and a run id, or with wait=true 200 and the run, whose
    result holds the commit; a JSON body sets the message, author and trailers."""
    tree = path_world.clone("app")
    client, plugin = _client(tree)
    with client:
        write(tree, {"a.txt": "a\n"})
        queued = client.post("/reconcile/commit?repo=data", headers=AUTH)
        assert queued.status_code == 202
        assert set(queued.json()) == {"run_id", "repo"}
        assert client.portal is not None
        record = client.portal.call(plugin.wait_for, queued.json()["run_id"])
        assert record is not None
        assert record.result is not None
        assert record.result.commit is not None
        write(tree, {"b.txt": "b\n"})
        body = {
            "message": "Add b",
            "author": "Ada Lovelace <ada@example.invalid>",
            "co_authors": ["Grace Hopper <grace@example.invalid>"],
            "trailers": ["Ticket: DATA-9"],
        }
        done = client.post("/reconcile/commit?wait=true", headers=AUTH, json=body)
    assert done.status_code == 200
    run = done.json()
    assert run["triggers"] == ["http"]
    commit = run["result"]["commit"]
    assert (commit["message_source"], commit["author"]) == (
        "explicit",
        "Ada Lovelace <ada@example.invalid>",
    )
    assert commit["paths"] == ["b.txt"]
    assert git(tree, "log", "-1", "--format=%B") == (
        "Add b\n\nTicket: DATA-9\nCo-authored-by: Grace Hopper <grace@example.invalid>"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "bad commit request"),
        (b"[1]", "JSON object"),
        (b'{"mesage": "typo"}', "unknown keys mesage"),
        (b'{"author": "nobody"}', "Name <email>"),
        (b'{"paths": "a.txt"}', "paths: give an array"),
    ],
)
def test_a_malformed_commit_request_is_400(path_world: World, body: bytes, why: str) -> None:
    """A body that is not a commit request is refused with 400 saying why; nothing runs."""
    client, plugin = _client(path_world.clone("app"))
    with client:
        answer = client.post("/reconcile/commit", headers=AUTH, content=body)
        assert plugin.runners["data"].runs == 1  # the boot run only
    assert answer.status_code == 400
    assert why in answer.json()["error"]


def test_post_commit_needs_the_admin_token(path_world: World) -> None:
    """Without the token it is 401; with no token configured, 503."""
    tree = path_world.clone("app")
    client, _plugin = _client(tree)
    with client:
        assert client.post("/reconcile/commit").status_code == 401
    client, _plugin = _client(tree, admin_token=None)
    with client:
        assert client.post("/reconcile/commit", headers=AUTH).status_code == 503


def _commit_twice(client: TestClient, tree: Path) -> None:
    for name, author in (("a", "Ada Lovelace <ada@example.invalid>"), ("b", None)):
        write(tree, {f"{name}.txt": f"{name}\n"})
        body = {"message": f"Add {name}"} | ({"author": author} if author else {})
        assert (
            client.post("/reconcile/commit?wait=true", headers=AUTH, json=body).status_code == 200
        )


@pytest.mark.parametrize("stored", [False, True], ids=["memory", "store"])
def test_commits_are_listed_and_counted(path_world: World, tmp_path: Path, stored: bool) -> None:
    """GET /commits lists the commits runs made, newest first, filtered by repository
    and time; GET /commits/statistics counts them per repository, author, day and
    message source; the same with or without an audit store."""
    tree = path_world.clone("app")
    client, _plugin = _client(tree, tmp_path / "audit.db" if stored else None)
    with client:
        _commit_twice(client, tree)
        listed = client.get("/reconcile/commits").json()["commits"]
        since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        later = client.get("/reconcile/commits", params={"since": since}).json()["commits"]
        other = client.get("/reconcile/commits?repo=other").json()["commits"]
        one = client.get("/reconcile/commits?limit=1").json()["commits"]
        counts = client.get("/reconcile/commits/statistics").json()
        bad = client.get("/reconcile/commits?limit=x")
    assert [c["message"] for c in listed] == ["Add b\n", "Add a\n"]
    first = listed[1]
    assert first["sha"] == git(tree, "rev-parse", "HEAD~1")
    assert (first["repo"], first["paths_count"], first["paths"], first["signed"]) == (
        "data",
        1,
        ["a.txt"],
        False,
    )
    assert first["run_id"].startswith("data-")
    assert (later, other, len(one)) == ([], [], 1)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert counts == {
        "total": 2,
        "per_repo": {"data": 2},
        "per_author": {
            "Ada Lovelace <ada@example.invalid>": 1,
            "Test User <test@example.invalid>": 1,
        },
        "per_day": {today: 2},
        "per_message_source": {"explicit": 2},
    }
    assert bad.status_code == 400


def test_every_commit_is_recorded_and_no_secret_reaches_the_store(
    path_world: World, tmp_path: Path
) -> None:
    """The audit store holds a row per commit (sha, run, paths, source, author,
    signed), reads runs back with their commit and skipped paths, and a commit
    blocked for a secret leaves the secret in no row."""
    tree = path_world.clone("app")
    database = tmp_path / "audit.db"
    client, _plugin = _client(tree, database)
    with client:
        write(tree, {"a.txt": "a\n", ".env": "X=1\n"})
        done = client.post("/reconcile/commit?wait=true", headers=AUTH).json()
        write(tree, {"leak.txt": f"token: {TOKEN}\n"})
        blocked = client.post("/reconcile/commit?wait=true", headers=AUTH).json()
        history = client.get("/reconcile/history").json()["runs"]
    assert blocked["result"]["outcome"] == "blocked"
    assert "leak.txt line 1 holds what looks like a GitHub Token" in blocked["result"]["reason"]
    with AuditStore(f"sqlite:///{database}") as store:
        [row] = store.commits()
        runs = store.runs()
    assert row.sha == done["result"]["commit"]["sha"] == git(tree, "rev-parse", "HEAD")
    assert (row.run_id, row.paths, row.message_source) == (done["run_id"], ("a.txt",), "template")
    stored = next(r for r in runs if r.run_id == done["run_id"])
    assert stored.result is not None
    assert stored.result.commit is not None
    assert stored.result.commit.sha == row.sha
    assert stored.result.skipped_paths == (".env",)
    assert history[1]["result"]["commit"]["sha"] == row.sha
    assert TOKEN.encode() not in database.read_bytes()
    for extra in database.parent.glob("audit.db-*"):
        assert TOKEN.encode() not in extra.read_bytes()
    assert RepoCommit.__tablename__ == "reconcile_commit"


def test_commits_are_counted_by_repository_and_message_source(path_world: World) -> None:
    """git_reconcile_commits_total counts each commit by repository and message source."""
    tree = path_world.clone("app")
    client, _plugin = _client(tree)
    with client:
        _commit_twice(client, tree)
        write(tree, {"c.txt": "c\n"})
        client.post("/reconcile/commit?wait=true", headers=AUTH)
        text = client.get("/reconcile/metrics").text
    samples = {
        (s.labels["repo"], s.labels["message_source"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "git_reconcile_commits"
        for s in family.samples
        if s.name == "git_reconcile_commits_total"
    }
    assert samples == {("data", "explicit"): 2.0, ("data", "template"): 1.0}
