"""The fleet service over HTTP: status, repository states, triggers that are not
doubled, enable and disable kept across restarts, history from the audit store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fleetutil import Tree, hook
from gitutil import git, rev
from starlette.testclient import TestClient

from plugin.audit import AuditStore
from plugin.cli._fleet_serve import fleet_app
from plugin.fleet import FleetService, FleetSettings

TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    audit = AuditStore(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    audit.upgrade()
    yield audit
    audit.close()


def _service(tree: Tree, data: Path, store: AuditStore | None = None) -> FleetService:
    """A service whose timer is off (cycles only on trigger), as persisted in ``data``."""
    settings = FleetSettings.load(data)
    if not (data / "fleet-state.json").exists():
        settings.set_enabled(False)
    return FleetService(tree.config(), settings=settings, store=store, admin_token=TOKEN)


def test_admin_routes_need_the_token(tmp_path: Path) -> None:
    """Without a configured token the admin routes answer 503 naming the variable; with
    one, a request without it gets 401; reading routes need none."""
    tree = Tree(tmp_path)
    tree.repo("base/a")
    bare = FleetService(tree.config(), admin_token_env="RECONCILE_ADMIN_TOKEN")
    with TestClient(fleet_app(bare)) as client:
        answer = client.post("/trigger")
        assert answer.status_code == 503
        assert "RECONCILE_ADMIN_TOKEN" in answer.json()["error"]
        assert client.get("/health").json() == {"status": "ok"}
    (tmp_path / "d").mkdir()
    with TestClient(fleet_app(_service(tree, tmp_path / "d"))) as client:
        assert client.post("/trigger").status_code == 401
        assert client.post("/disable", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/status").status_code == 200


def test_repos_answers_each_state(tmp_path: Path) -> None:
    """GET /repos gives each repository's path, branch and state: clean, dirty, ahead,
    behind (as last fetched), disabled, and error for one without its remote."""
    tree = Tree(tmp_path)
    clean = tree.repo("base/clean")
    dirty = tree.repo("base/dirty")
    ahead = tree.repo("base/ahead")
    off = tree.repo("base/off")
    broken = tree.repo("base/broken")
    behind = tree.repo("base/behind")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tree.remotes[behind]), str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "theirs")
    git(other, "push", "-q", "origin", "main")
    git(behind, "fetch", "-q", "origin")
    (dirty / "new.txt").write_text("new\n")
    git(ahead, "commit", "-q", "--allow-empty", "-m", "ahead")
    git(broken, "remote", "remove", "origin")
    (tmp_path / "d").mkdir()
    service = _service(tree, tmp_path / "d")
    service.settings.set_repo(str(off.resolve()), False)
    with TestClient(fleet_app(service)) as client:
        repos = {r["name"]: r for r in client.get("/repos").json()["repos"]}
    assert {n: r["state"] for n, r in repos.items()} == {
        "base/ahead": "ahead",
        "base/behind": "behind",
        "base/broken": "error",
        "base/clean": "clean",
        "base/dirty": "dirty",
        "base/off": "disabled",
    }
    assert repos["base/clean"]["path"] == str(clean.resolve())
    assert repos["base/clean"]["branch"] == "main"
    assert "origin" in repos["base/broken"]["reason"]


def test_a_trigger_during_a_cycle_joins_it(tmp_path: Path) -> None:
    """A second POST /trigger while a cycle is queued or running answers 202 with the same
    cycle id, and only one cycle runs."""
    tree = Tree(tmp_path)
    slow = tree.repo("base/slow")
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    hook(slow / ".git" / "hooks", "pre-commit", f'#!/bin/sh\nread line < "{gate}"\n')
    (slow / "data.txt").write_text("2\n")
    (tmp_path / "d").mkdir()
    service = _service(tree, tmp_path / "d")
    with TestClient(fleet_app(service)) as client:
        first = client.post("/trigger", headers=ADMIN)
        second = client.post("/trigger", headers=ADMIN)
        assert first.status_code == second.status_code == 202
        assert second.json() == {"cycle_id": first.json()["cycle_id"], "joined": True}
        threading.Thread(target=lambda: gate.write_text("go\n"), daemon=True).start()
        done = client.post("/trigger", headers=ADMIN, params={"wait": "true"})
        assert done.json()["cycle_id"] == first.json()["cycle_id"]
        status = client.get("/status").json()
    assert status["last_cycle"]["cycle_id"] == first.json()["cycle_id"]
    assert status["last_cycle"]["phases"]["push"]["repos"] == ["base/slow"]
    assert status["enabled"] is False
    assert status["next_cycle_at"] is None
    assert tree.remote_tip(slow) == rev(slow, "HEAD")


def test_enable_and_disable_survive_a_restart(tmp_path: Path) -> None:
    """A repository disabled over HTTP stays disabled in the next service on the same data
    directory (its changes are neither committed nor pushed), and so does the daemon."""
    tree = Tree(tmp_path)
    a = tree.repo("base/a")
    b = tree.repo("base/b")
    data = tmp_path / "d"
    data.mkdir()
    with TestClient(fleet_app(_service(tree, data))) as client:
        assert client.post("/enable", headers=ADMIN).json() == {"enabled": True}
        answer = client.post("/disable", headers=ADMIN, params={"repo": "base/b"})
        assert answer.json() == {"repo": str(b.resolve()), "enabled": False}
        assert client.post("/disable", headers=ADMIN).json() == {"enabled": False}
        missing = client.post("/disable", headers=ADMIN, params={"repo": "nope"})
        assert missing.status_code == 404
    for repo in (a, b):
        (repo / "data.txt").write_text("2\n")
    before = tree.remote_tip(b)
    with TestClient(fleet_app(_service(tree, data))) as client:
        assert client.get("/status").json()["enabled"] is False
        cycle = client.post("/trigger", headers=ADMIN, params={"wait": "1"}).json()["cycle"]
    assert [r["status"] for r in cycle["results"]] == ["pushed", "disabled"]
    assert tree.remote_tip(b) == before
    assert git(b, "status", "--porcelain") == "M data.txt"


def test_history_lists_cycles_and_their_commits_from_the_store(
    tmp_path: Path, store: AuditStore
) -> None:
    """GET /history reads the cycles back from the audit store, newest first, with the
    commit each made; the metrics count them."""
    tree = Tree(tmp_path)
    a = tree.repo("base/a")
    tree.repo("base/b")
    (tmp_path / "d").mkdir()
    with TestClient(fleet_app(_service(tree, tmp_path / "d", store))) as client:
        (a / "data.txt").write_text("2\n")
        first = client.post("/trigger", headers=ADMIN, params={"wait": "1"}).json()["cycle_id"]
        second = client.post("/trigger", headers=ADMIN, params={"wait": "1"}).json()["cycle_id"]
        page = client.get("/history", params={"limit": 1}).json()
        older = client.get("/history", params={"before": page["next"]}).json()
        metrics = client.get("/metrics").text
    assert [c["cycle_id"] for c in page["cycles"]] == [second]
    assert [c["cycle_id"] for c in older["cycles"]] == [first]
    cycle = older["cycles"][0]
    assert (cycle["repos"], cycle["committed"], cycle["pushed"], cycle["failed"]) == (2, 1, 1, 0)
    assert [r["repo"] for r in cycle["results"]] == ["base/a"]
    assert cycle["results"][0]["commit"]["sha"] == rev(a, "HEAD")
    assert cycle["results"][0]["push_status"] == "ok"
    assert cycle["results"][0]["commit_finished_at"] <= cycle["results"][0]["push_started_at"]
    assert 'git_reconcile_fleet_cycles_total{trigger="manual"} 2.0' in metrics
    assert 'git_reconcile_fleet_repo_results_total{repo="base/a",status="pushed"} 1.0' in metrics


def test_the_timer_runs_a_cycle_when_the_daemon_is_enabled(tmp_path: Path) -> None:
    """An enabled service commits and pushes without being asked."""
    tree = Tree(tmp_path)
    a = tree.repo("base/a")
    (a / "data.txt").write_text("2\n")
    service = FleetService(tree.config(), settings=FleetSettings(), admin_token=TOKEN)
    with TestClient(fleet_app(service)) as client:
        assert client.portal is not None
        report = client.portal.call(service.cycles, 1)
    assert report is not None
    assert report.trigger == "timer"
    assert tree.remote_tip(a) == rev(a, "HEAD")


def test_discovery_runs_again_before_a_cycle_once_its_interval_passed(tmp_path: Path) -> None:
    """A repository cloned while the service runs is in a cycle once discovery_interval
    has passed."""
    tree = Tree(tmp_path)
    tree.repo("base/a")
    settings = FleetSettings()
    settings.enabled = False
    config = replace(tree.config(), discovery_interval=0.001)
    service = FleetService(config, settings=settings, admin_token=TOKEN)
    with TestClient(fleet_app(service)) as client:
        first = client.post("/trigger", headers=ADMIN, params={"wait": "1"}).json()
        late = tree.repo("base/late")
        (late / "data.txt").write_text("2\n")
        second = client.post("/trigger", headers=ADMIN, params={"wait": "1"}).json()
    assert [r["name"] for r in first["cycle"]["results"]] == ["base/a"]
    assert [r["name"] for r in second["cycle"]["results"]] == ["base/a", "base/late"]
    assert tree.remote_tip(late) == rev(late, "HEAD")


def test_fleet_serves_until_stopped_and_a_second_one_exits(tmp_path: Path) -> None:
    """git-reconcile fleet without --once serves its routes; a second fleet on the same
    data directory exits 7 while it runs; SIGTERM stops it."""
    tree = Tree(tmp_path)
    tree.repo("base/a")
    data = str(tmp_path / "d")
    env = os.environ | {"RECONCILE_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "plugin", "fleet", str(tmp_path / "base"), "--data-dir", data]
    server = subprocess.Popen(
        [*command, "--port", "0", "--log-level", "INFO", "--log-format", "console"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stderr is not None
        url = ""
        for line in server.stderr:
            if "Uvicorn running on" in line:
                url = line.split("Uvicorn running on ")[1].split()[0]
                break
        assert url
        second = subprocess.run(
            [*command, "--once"], capture_output=True, text=True, env=env, check=False
        )
        assert second.returncode == 7
        assert f"pid {server.pid}" in second.stderr
        status = httpx.get(f"{url}/status", timeout=10).json()
        assert status["repos"] == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()
