"""The plugin in a real app with its lifespan running: boot, webhooks, coalescing,
the host's callback, shutdown, and the admin routes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from gitutil import World, git, rev
from gitutil import World as Remote
from prometheus_client.parser import text_string_to_metric_families
from servers.sshgit import HangingServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from plugin import BootFailed, LifespanMissing, PluginConfig, ReconcilePlugin, RepoConfig
from reconcile import RepoLock, RepoLockTimeout, RepoSpec, Result, SSHKey
from webhooks import sign_sha256

SECRET = "hook-s3cret"
ADMIN = "admin-t0ken"


def _plugin(app_repo: Path, **kwargs: Any) -> ReconcilePlugin:
    repo = kwargs.pop("repo", None) or RepoConfig("data", app_repo, poll_interval=0)
    on_reconciled = kwargs.pop("on_reconciled", None)
    config = PluginConfig(
        repos=(repo,),
        admin_token=kwargs.pop("admin_token", ADMIN),
        webhook_secrets={"github": (SECRET,), "generic-hmac": (SECRET,)},
        **kwargs,
    )
    return ReconcilePlugin(config, on_reconciled=on_reconciled)


def _app(plugin: ReconcilePlugin) -> Starlette:
    return Starlette(routes=[plugin.mount("/reconcile")], lifespan=plugin.lifespan())


def _github(
    world: World,
    after: str,
    delivery: str | None = None,
    ref: str = "refs/heads/main",
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "ref": ref,
            "before": "0" * 40,
            "after": after,
            "repository": {"full_name": "org/data", "clone_url": str(world.remote)},
        }
    ).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign_sha256(secret, body),
        "Content-Type": "application/json",
    }
    return body, headers


def _wait(client: TestClient, plugin: ReconcilePlugin, run_id: str) -> Any:
    assert client.portal is not None
    return client.portal.call(plugin.wait_for, run_id)


def test_boot_reconciles_before_the_app_serves(path_world: World) -> None:
    """When the app starts, the repository is already fast-forwarded and /ready is 200."""
    world = path_world
    app_repo = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    plugin = _plugin(app_repo)
    assert not plugin.ready
    with TestClient(_app(plugin)) as client:
        assert rev(app_repo, "main") == new
        assert (app_repo / "data.txt").read_text() == "2\n"
        assert client.get("/reconcile/ready").status_code == 200
        status = client.get("/reconcile/status").json()
        assert status["repos"]["data"]["last_run"]["triggers"] == ["boot"]
        assert status["repos"]["data"]["last_run"]["result"]["outcome"] == "fast-forwarded"


def test_signed_push_webhook_fast_forwards(path_world: World) -> None:
    """A signed GitHub push webhook queues a run that fast-forwards the repository."""
    world = path_world
    app_repo = world.clone("app")
    plugin = _plugin(app_repo)
    with TestClient(_app(plugin)) as client:
        new = world.remote_commit({"data.txt": "2\n"}, "remote")
        body, headers = _github(world, new)
        answer = client.post("/reconcile/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        record = _wait(client, plugin, answer.json()["run_id"])
        assert record is not None
        assert record.result is not None
        assert record.result.outcome.value == "fast-forwarded"
        assert rev(app_repo, "main") == new
        # The same commit again is answered at once: it is already here.
        body, headers = _github(world, new)
        again = client.post("/reconcile/webhooks/github", content=body, headers=headers)
        assert (again.status_code, again.json()["status"]) == (200, "present")


def test_forged_signature_is_refused_and_changes_nothing(path_world: World) -> None:
    """A webhook signed with the wrong secret gets 401 and triggers nothing."""
    world = path_world
    app_repo = world.clone("app")
    plugin = _plugin(app_repo)
    with TestClient(_app(plugin)) as client:
        before = rev(app_repo, "main")
        new = world.remote_commit({"data.txt": "2\n"}, "remote")
        body, headers = _github(world, new, secret="not the secret")
        answer = client.post("/reconcile/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 401
        assert plugin.runners["data"].runs == 1  # the boot run only
        assert rev(app_repo, "main") == before


def test_replayed_other_branch_and_oversize_deliveries(path_world: World) -> None:
    """A repeated delivery id, another branch, and an oversize body are answered without runs."""
    world = path_world
    app_repo = world.clone("app")
    plugin = _plugin(app_repo, max_body=4096)
    with TestClient(_app(plugin)) as client:
        runs = plugin.runners["data"].runs
        new = world.remote_commit({"x": "y"}, "on another branch", branch="other")
        body, headers = _github(world, new, ref="refs/heads/other")
        other = client.post("/reconcile/webhooks/github", content=body, headers=headers)
        assert (other.status_code, other.json()["status"]) == (202, "ignored")
        replay = client.post("/reconcile/webhooks/github", content=body, headers=headers)
        assert (replay.status_code, replay.json()["status"]) == (200, "duplicate")
        big = b"{" + b" " * 5000 + b"}"
        oversize = client.post(
            "/reconcile/webhooks/github",
            content=big,
            headers={**headers, "X-Hub-Signature-256": sign_sha256(SECRET, big)},
        )
        assert oversize.status_code == 413
        assert plugin.runners["data"].runs == runs


def test_burst_of_1000_webhooks_costs_at_most_two_runs(path_world: World) -> None:
    """1,000 deliveries while a run is held up coalesce into one follow-up run."""
    world = path_world
    app_repo = world.clone("app")
    plugin = _plugin(app_repo)
    runner = plugin.runners["data"]
    with TestClient(_app(plugin)) as client:
        before = runner.runs
        new = world.remote_commit({"data.txt": "2\n"}, "remote")
        # Another holder of the repository's lock keeps the first run waiting.
        blocker = RepoLock(app_repo / ".git")
        blocker.acquire()
        try:
            first = runner.trigger("manual")
            ids = set()
            for _ in range(1000):
                body, headers = _github(world, new)
                answer = client.post("/reconcile/webhooks/github", content=body, headers=headers)
                assert answer.status_code == 202
                ids.add(answer.json()["run_id"])
        finally:
            blocker.release()
        assert first.run_id not in ids
        assert len(ids) == 1
        record = _wait(client, plugin, ids.pop())
        assert record is not None
        assert runner.runs - before == 2
        assert rev(app_repo, "main") == new


def test_on_reconciled_sees_the_new_tree_under_the_lock(path_world: World) -> None:
    """The host's callback runs after a change, with the new files on disk, holding the lock."""
    world = path_world
    app_repo = world.clone("app")
    seen: list[tuple[str, bool, bool]] = []

    def rebuild(result: Result) -> None:
        text = (app_repo / "data.txt").read_text()
        probe = RepoLock(app_repo / ".git", timeout=0)
        try:
            probe.acquire()
        except RepoLockTimeout:
            locked = True
        else:
            probe.release()
            locked = False
        seen.append((text, locked, plugin.runners["data"].running))

    plugin = _plugin(app_repo, on_reconciled=rebuild)
    world.remote_commit({"data.txt": "boot\n"}, "before boot")
    with TestClient(_app(plugin)) as client:
        assert seen == [("boot\n", True, True)]
        world.remote_commit({"data.txt": "later\n"}, "remote")
        answer = client.post(
            "/reconcile/trigger?wait=true", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert answer.status_code == 200
        assert seen[-1] == ("later\n", True, True)
        client.post("/reconcile/trigger?wait=true", headers={"Authorization": f"Bearer {ADMIN}"})
        assert len(seen) == 2  # nothing changed: no callback


def test_callback_failure_is_reported(path_world: World) -> None:
    """An exception in on_reconciled is recorded in the run, not swallowed."""
    world = path_world
    app_repo = world.clone("app")

    def broken(result: Result) -> None:
        raise RuntimeError("cannot rebuild")

    world.remote_commit({"data.txt": "2\n"}, "remote")
    plugin = _plugin(app_repo, on_reconciled=broken)
    with TestClient(_app(plugin)) as client:
        last = client.get("/reconcile/status").json()["repos"]["data"]["last_run"]
        assert last["callback_error"] == "RuntimeError: cannot rebuild"


def test_shutdown_during_a_hung_reconcile_returns_within_the_bound(
    path_world: World, ssh_server: Any
) -> None:
    """Stopping the app while a run waits on a silent remote returns within the bound."""

    world = path_world
    app_repo = world.clone("app")
    with HangingServer() as hanging:
        git(app_repo, "remote", "set-url", "origin", hanging.url())
        spec = RepoSpec(
            app_repo,
            timeout=60,
            known_hosts=ssh_server.known_hosts_path,
            credentials=SSHKey(private_key=ssh_server.client_key_path),
        )
        repo = RepoConfig("data", app_repo, poll_interval=0, spec=spec)
        plugin = _plugin(app_repo, repo=repo, shutdown_timeout=1.0)
        started = threading.Event()
        plugin.booted = True  # skip waiting for the boot run in this test

        async def boot_in_background() -> str | None:
            plugin.runners["data"].trigger("manual")
            started.set()
            return None

        plugin._boot = boot_in_background  # type: ignore[method-assign]
        client = TestClient(_app(plugin))
        client.__enter__()
        assert started.wait(10)
        assert hanging.connected.wait(10)
        t0 = time.monotonic()
        client.__exit__(None, None, None)
        assert time.monotonic() - t0 < 5


def test_admin_routes_need_the_token(path_world: World) -> None:
    """Trigger, enable and disable answer 401 without the token, and 503 with none
    configured, naming what the application configures."""
    world = path_world
    app_repo = world.clone("app")
    with TestClient(_app(_plugin(app_repo))) as client:
        assert client.post("/reconcile/trigger").status_code == 401
        assert (
            client.post("/reconcile/trigger", headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        ok = client.post("/reconcile/disable", headers={"Authorization": f"Bearer {ADMIN}"})
        assert (ok.status_code, ok.json()["enabled"]) == (200, False)
        queued = client.post("/reconcile/trigger", headers={"Authorization": f"Bearer {ADMIN}"})
        assert queued.status_code == 202
        assert queued.json()["run_id"].startswith("data-")
    with TestClient(_app(_plugin(app_repo, admin_token=None))) as client:
        refused = client.post("/reconcile/trigger")
        assert refused.status_code == 503
        assert "PluginConfig(admin_token=...)" in refused.json()["error"]
        assert "RECONCILE_ADMIN_TOKEN" not in refused.json()["error"]


def test_health_repos_history(path_world: World) -> None:
    """Health, repos and history answer with what the plugin knows."""
    world = path_world
    app_repo = world.clone("app")
    with TestClient(_app(_plugin(app_repo))) as client:
        assert client.get("/reconcile/health").json() == {"status": "ok"}
        [repo] = client.get("/reconcile/repos").json()
        assert (repo["name"], repo["remote"]) == ("data", "origin")
        runs = client.get("/reconcile/history?repo=data&outcome=in-sync").json()["runs"]
        assert [r["triggers"] for r in runs] == [["boot"]]
        assert client.get("/reconcile/history?outcome=rebased").json()["runs"] == []


def test_boot_failure_policies(path_world: World) -> None:
    """A failed boot serves by default, answers /ready 503 with 'not-ready', stops with 'fail'."""

    world = path_world
    app_repo = world.clone("app")
    git(app_repo, "remote", "set-url", "origin", str(world.root / "gone.git"))
    with TestClient(_app(_plugin(app_repo))) as client:
        assert client.get("/reconcile/ready").status_code == 200
    with TestClient(_app(_plugin(app_repo, boot_policy="not-ready"))) as client:
        ready = client.get("/reconcile/ready")
        assert ready.status_code == 503
        assert "gone.git" in json.dumps(ready.json()["boot_errors"])
    with pytest.raises(BootFailed), TestClient(_app(_plugin(app_repo, boot_policy="fail"))):
        pass


def test_composes_with_the_host_lifespan(path_world: World) -> None:
    """The host app's own lifespan runs inside the plugin's, after the boot reconcile."""

    world = path_world
    app_repo = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    order: list[str] = []

    @asynccontextmanager
    async def host(app: Any) -> AsyncIterator[dict[str, str]]:
        order.append(f"host start at {rev(app_repo, 'main') == new}")
        yield {"db": "connected"}
        order.append("host stop")

    async def host_route(request: Request) -> JSONResponse:
        return JSONResponse({"db": request.state.db})

    plugin = _plugin(app_repo)
    app = Starlette(
        routes=[Route("/db", host_route), plugin.mount("/r")], lifespan=plugin.lifespan(host)
    )
    with TestClient(app) as client:
        assert client.get("/r/health").status_code == 200
        assert client.get("/r/status").json()["repos"]["data"]["runs"] == 1
        assert client.get("/db").json() == {"db": "connected"}
    assert order == ["host start at True", "host stop"]


def test_routes_serve_in_fastapi_with_the_host_lifespan(path_world: World) -> None:
    """In a FastAPI app whose own lifespan the plugin's wraps, the plugin's routes find
    the plugin and the app's own routes its state."""

    world = path_world
    app_repo = world.clone("app")

    @asynccontextmanager
    async def host(app: Any) -> AsyncIterator[dict[str, str]]:
        yield {"db": "connected"}

    plugin = _plugin(app_repo)
    api = FastAPI(lifespan=plugin.lifespan(host))
    api.router.routes.append(plugin.mount("/reconcile"))

    @api.get("/db")
    async def db(request: Request) -> dict[str, str]:
        return {"db": request.state.db}

    with TestClient(api) as client:
        new = world.remote_commit({"data.txt": "2\n"}, "remote")
        answer = client.post(
            "/reconcile/trigger?wait=true", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert answer.json()["result"]["outcome"] == "fast-forwarded"
        assert rev(app_repo, "main") == new
        assert client.get("/reconcile/ready").status_code == 200
        assert client.get("/db").json() == {"db": "connected"}


def test_routes_without_the_plugin_lifespan_say_so(path_world: World) -> None:
    """Mounted in an app the plugin's lifespan does not run, the routes raise
    LifespanMissing naming the fix; liveness still answers."""
    plugin = _plugin(path_world.clone("app"))
    with TestClient(Starlette(routes=[plugin.mount("/r")])) as client:
        assert client.get("/r/health").status_code == 200
        with pytest.raises(LifespanMissing, match=r"lifespan=plugin\.lifespan\(\)"):
            client.get("/r/status")
        with pytest.raises(LifespanMissing):
            client.post("/r/webhooks/github", content=b"{}")


def test_status_reports_the_one_failure_streak(path_world: World) -> None:
    """/status counts a blocked run as a failure, as the gauge does, and a success
    ends the streak."""

    world = path_world
    app_repo = world.clone("app")
    plugin = _plugin(app_repo)
    auth = {"Authorization": f"Bearer {ADMIN}"}

    def streaks(client: TestClient) -> tuple[int, float]:
        status = client.get("/reconcile/status").json()["repos"]["data"]
        gauge = next(
            s.value
            for family in text_string_to_metric_families(client.get("/reconcile/metrics").text)
            for s in family.samples
            if s.name == "git_reconcile_consecutive_failures"
        )
        return status["consecutive_failures"], gauge

    with TestClient(_app(plugin)) as client:
        assert streaks(client) == (0, 0.0)
        git(app_repo, "checkout", "-q", "--detach")  # a detached HEAD blocks every run
        for expected in (1, 2):
            answer = client.post("/reconcile/trigger?wait=true", headers=auth)
            assert answer.json()["result"]["outcome"] == "blocked"
            assert streaks(client) == (expected, float(expected))
        git(app_repo, "checkout", "-q", "main")
        answer = client.post("/reconcile/trigger?wait=true", headers=auth)
        assert answer.json()["result"]["outcome"] == "in-sync"
        assert streaks(client) == (0, 0.0)


def test_a_slow_sync_callback_does_not_stall_requests(path_world: World) -> None:
    """A plain on_reconciled runs in a worker thread: the app answers while it works."""
    world = path_world
    app_repo = world.clone("app")
    inside, release = threading.Event(), threading.Event()

    def slow_rebuild(result: Result) -> None:
        inside.set()
        assert release.wait(30)

    plugin = _plugin(app_repo, on_reconciled=slow_rebuild)
    with TestClient(_app(plugin)) as client:
        world.remote_commit({"data.txt": "2\n"}, "remote")
        queued = client.post("/reconcile/trigger", headers={"Authorization": f"Bearer {ADMIN}"})
        assert inside.wait(30)
        assert client.get("/reconcile/health").status_code == 200
        assert client.get("/reconcile/status").json()["repos"]["data"]["running"] is True
        release.set()
        record = _wait(client, plugin, queued.json()["run_id"])
        assert record.callback_error is None


def test_triggers_after_shutdown_are_refused_quietly(path_world: World) -> None:
    """Once a runner is closed, a trigger gets a finished ticket saying it did not run."""
    world = path_world
    plugin = _plugin(world.clone("app"))
    runner = plugin.runners["data"]
    runner.close()
    ticket = runner.trigger("poll")
    assert ticket.done.is_set()
    assert ticket.record.error == "shutting down: not run"


def test_poll_pulls_a_change_without_any_trigger(path_world: World) -> None:
    """With a short poll interval, a remote change arrives on its own."""
    world = path_world
    app_repo = world.clone("app")
    changed = threading.Event()
    triggers: list[str] = []

    def noticed(result: Result) -> None:
        current = plugin.runners["data"].current
        assert current is not None
        triggers.extend(current.record.triggers)
        changed.set()

    repo = RepoConfig("data", app_repo, poll_interval=0.05, poll_jitter=0.5)
    plugin = _plugin(app_repo, repo=repo, on_reconciled=noticed)
    with TestClient(_app(plugin)):
        new = world.remote_commit({"data.txt": "polled\n"}, "remote")
        assert changed.wait(30)
        assert rev(app_repo, "main") == new
        assert triggers == ["poll"]


def test_webhook_is_matched_to_the_repository_by_url(path_world: World, tmp_path: Path) -> None:
    """With several repositories, a delivery goes to the one whose remote URL it names."""

    world = path_world
    (tmp_path / "second").mkdir()
    other_world = Remote(tmp_path / "second")
    first = world.clone("first")
    other_world.seed()
    second = other_world.clone("second-clone")
    config = PluginConfig(
        repos=(
            RepoConfig("first", first, poll_interval=0),
            RepoConfig("second", second, poll_interval=0),
        ),
        webhook_secrets={"github": (SECRET,)},
    )
    plugin = ReconcilePlugin(config)
    with TestClient(_app(plugin)) as client:
        new = other_world.remote_commit({"data.txt": "2\n"}, "remote")
        body, headers = _github(other_world, new)
        answer = client.post("/reconcile/webhooks/github", content=body, headers=headers)
        assert (answer.status_code, answer.json()["repo"]) == (202, "second")
        record = _wait(client, plugin, answer.json()["run_id"])
        assert record.result.outcome.value == "fast-forwarded"
        assert rev(second, "main") == new
        # Named in the URL path, the delivery goes to "first", which lacks that commit.
        body, headers = _github(other_world, new)
        by_path = client.post("/reconcile/webhooks/github/first", content=body, headers=headers)
        assert (by_path.status_code, by_path.json()["status"]) == (202, "queued")
        assert by_path.json()["repo"] == "first"
        record = _wait(client, plugin, by_path.json()["run_id"])
        assert (record.repo, record.result.outcome.value) == ("first", "in-sync")


def test_metrics_route_counts_runs_and_deliveries(path_world: World) -> None:
    """/metrics answers in Prometheus text with the boot run and a refused delivery."""

    world = path_world
    app_repo = world.clone("app")
    plugin = _plugin(app_repo)
    with TestClient(_app(plugin)) as client:
        body, headers = _github(world, "a" * 40, secret="forged")
        assert (
            client.post("/reconcile/webhooks/github", content=body, headers=headers).status_code
            == 401
        )
        answer = client.get("/reconcile/metrics")
        assert answer.status_code == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        }
    assert samples[("git_reconcile_runs_total", (("outcome", "in-sync"), ("repo", "data")))] == 1.0
    assert (
        samples[
            (
                "git_reconcile_webhook_deliveries_total",
                (("provider", "github"), ("result", "unauthorized")),
            )
        ]
        == 1.0
    )
    assert samples[("git_reconcile_lock_wait_seconds_count", (("repo", "data"),))] == 1.0
