"""Callouts for a sidecar set-up: notify_url POSTs the runs that moved the branch to a
real receiver, signed, retried, in the background; exec_hook runs a real process with
the run in its environment and on its stdin, bounded, recorded, counted, alerted."""

from __future__ import annotations

import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from gitutil import World
from servers.receiver import receiver, silent_port

from plugin import Metrics, Notifier, PluginConfig, ReconcilePlugin, RepoConfig, Runner
from plugin.alerts import Streak, events_for
from reconcile import Outcome
from webhooks import sign_sha256

pytestmark = pytest.mark.anyio

SECRET = "n0tify-s3cret"


@pytest.fixture
def anyio_backend() -> str:
    """The callouts run on asyncio, the loop uvicorn serves on."""
    return "asyncio"


def _count(metrics: Metrics, name: str, repo: str, result: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"repo": repo, "result": result})


async def _no_wait(seconds: float) -> None:
    """Backoff without waiting, for the retry tests."""


# --- notify_url ----------------------------------------------------------------------


async def test_a_run_that_moved_the_branch_is_posted_signed(path_world: World) -> None:
    """After the boot run fast-forwarded, the receiver gets the run's JSON with a valid
    X-Signature and the run id; a later run that changed nothing posts nothing."""
    world = path_world
    app = world.clone("app")
    moved = world.remote_commit({"data.txt": "2\n"}, "remote moved")
    async with receiver() as got:
        repo = RepoConfig("data", app, poll_interval=0, notify_url=got.url, notify_secret=SECRET)
        plugin = ReconcilePlugin(PluginConfig(repos=(repo,)))
        async with plugin.running():
            boot = plugin.runners["data"].last
            assert boot is not None
            again = await plugin.runners["data"].trigger("manual").wait()
            assert again.result is not None
            assert again.result.outcome is Outcome.IN_SYNC
    [post] = got.received
    body = json.loads(post.body)
    assert body == json.loads(json.dumps(boot.to_dict()))
    assert body["result"]["outcome"] == "fast-forwarded"
    assert body["result"]["new_commit"] == moved
    assert post.headers["x-signature"] == sign_sha256(SECRET, post.body)
    assert post.headers["x-run-id"] == boot.run_id
    assert post.headers["content-type"] == "application/json; charset=utf-8"
    assert _count(plugin.metrics, "git_reconcile_notifications_total", "data", "sent") == 1


async def test_a_failing_receiver_is_retried_then_counted(
    path_world: World, tmp_path: Path
) -> None:
    """5xx answers are retried (the secret read from its file each time); a 4xx is
    final; each end is counted."""
    world = path_world
    app = world.clone("app")
    secret_file = tmp_path / "notify.secret"
    secret_file.write_text(SECRET + "\n")
    metrics = Metrics()
    async with receiver() as got:
        got.statuses = [503, 502, 200, 400]
        repo = RepoConfig(
            "data", app, poll_interval=0, notify_url=got.url, notify_secret_file=secret_file
        )
        runner = Runner(repo)
        notifier = Notifier([repo], metrics=metrics, sleep=_no_wait)
        runner.observers.append(notifier.observe)
        async with anyio.create_task_group() as group:
            group.start_soon(runner.serve)
            await group.start(notifier.run)
            for text in ("2\n", "3\n"):
                world.remote_commit({"data.txt": text}, "remote moved")
                record = await runner.trigger("manual").wait()
                assert record.result is not None
                assert record.result.changed
            await notifier.aclose()
            runner.close()
            group.cancel_scope.cancel()
    assert len(got.received) == 4
    assert all(r.headers["x-signature"] == sign_sha256(SECRET, r.body) for r in got.received)
    assert _count(metrics, "git_reconcile_notifications_total", "data", "sent") == 1
    assert _count(metrics, "git_reconcile_notifications_total", "data", "failed") == 1


async def test_a_receiver_that_never_answers_is_never_in_the_runs_way(
    path_world: World,
) -> None:
    """With a receiver that takes the connection and never answers, the run finishes at
    once; the POST gives up at its timeout, in the background."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote moved")
    metrics = Metrics()
    with silent_port() as silent:
        repo = RepoConfig(
            "data", app, poll_interval=0, notify_url=silent, notify_timeout=0.5, notify_retries=0
        )
        runner = Runner(repo)
        notifier = Notifier([repo], metrics=metrics)
        runner.observers.append(notifier.observe)
        async with anyio.create_task_group() as group:
            group.start_soon(runner.serve)
            await group.start(notifier.run)
            started = time.monotonic()
            record = await runner.trigger("manual").wait()
            assert time.monotonic() - started < 0.5
            assert record.result is not None
            assert record.result.changed
            await notifier.aclose()
            runner.close()
            group.cancel_scope.cancel()
    assert _count(metrics, "git_reconcile_notifications_total", "data", "failed") == 1


# --- exec_hook -----------------------------------------------------------------------

RECORDER = """
import json, os, sys
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"env": dict(os.environ), "stdin": sys.stdin.read(),
                          "cwd": os.getcwd()}) + "\\n")
sys.exit(int(sys.argv[2]))
"""


def _recorder(tmp_path: Path, code: int = 0) -> tuple[tuple[str, ...], Path]:
    script = tmp_path / "hook.py"
    script.write_text(RECORDER)
    calls = tmp_path / "calls.jsonl"
    return (sys.executable, str(script), str(calls), str(code)), calls


def _calls(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_the_hook_gets_the_run_in_its_environment_and_stdin(
    path_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a run that moved the branch the hook runs in the repository, with exactly
    the documented variables (no secret of the service's), the run's JSON on stdin,
    and its status recorded and counted."""
    world = path_world
    app = world.clone("app")
    old = world.remote_tip()
    moved = world.remote_commit({"data.txt": "2\n"}, "remote moved")
    monkeypatch.setenv("RECONCILE_ADMIN_TOKEN", "must-not-leak")
    command, calls = _recorder(tmp_path)
    repo = RepoConfig("data", app, poll_interval=0, exec_hook=command)
    plugin = ReconcilePlugin(PluginConfig(repos=(repo,)))
    async with plugin.running():
        boot = plugin.runners["data"].last
    assert boot is not None
    assert boot.hook is not None
    assert (boot.hook.status, boot.hook.exit_code) == ("ok", 0)
    [call] = _calls(calls)
    env = call["env"]
    ours = {k: v for k, v in env.items() if k.startswith("GIT_RECONCILE_")}
    assert ours == {
        "GIT_RECONCILE_REPO": "data",
        "GIT_RECONCILE_PATH": str(app),
        "GIT_RECONCILE_REMOTE": "origin",
        "GIT_RECONCILE_BRANCH": "main",
        "GIT_RECONCILE_OUTCOME": "fast-forwarded",
        "GIT_RECONCILE_OLD_COMMIT": old,
        "GIT_RECONCILE_NEW_COMMIT": moved,
        "GIT_RECONCILE_REMOTE_COMMIT": moved,
        "GIT_RECONCILE_CONFLICT_BRANCH": "",
        "GIT_RECONCILE_PUSH_STATUS": "skipped",
        "GIT_RECONCILE_RUN_ID": boot.run_id,
        "GIT_RECONCILE_TRIGGERS": "boot",
    }
    assert set(env) - set(ours) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "LC_CTYPE"}
    assert "must-not-leak" not in json.dumps(env)
    assert json.loads(call["stdin"])["run_id"] == boot.run_id
    assert Path(call["cwd"]).resolve() == app.resolve()
    assert _count(plugin.metrics, "git_reconcile_exec_hooks_total", "data", "ok") == 1
    assert boot.to_dict()["hook"]["status"] == "ok"


async def test_a_failed_hook_is_recorded_alerted_and_retried_on_the_next_change_only(
    path_world: World, tmp_path: Path
) -> None:
    """A hook that exits non-zero is recorded with its status and output, counted and
    alerted (hook-failed); a run that changes nothing does not run it again; the next
    change does."""
    world = path_world
    app = world.clone("app")
    command, calls = _recorder(tmp_path, code=3)
    repo = RepoConfig("data", app, poll_interval=0, exec_hook=command)
    plugin = ReconcilePlugin(PluginConfig(repos=(repo,)))
    async with plugin.running():
        runner = plugin.runners["data"]
        world.remote_commit({"data.txt": "2\n"}, "remote moved")
        failed = await runner.trigger("manual").wait()
        unchanged = await runner.trigger("manual").wait()
        assert len(_calls(calls)) == 1
        world.remote_commit({"data.txt": "3\n"}, "remote moved again")
        await runner.trigger("manual").wait()
    assert failed.hook is not None
    assert (failed.hook.status, failed.hook.exit_code) == ("failed", 3)
    assert failed.hook.error == "exit status 3"
    assert unchanged.hook is None
    assert len(_calls(calls)) == 2
    assert _count(plugin.metrics, "git_reconcile_exec_hooks_total", "data", "failed") == 2
    [alert] = [e for e in events_for("data", failed, Streak(0, 0, 3)) if e.kind == "hook-failed"]
    assert alert.severity == "warning"
    assert "exit status 3" in alert.summary
    assert failed.succeeded  # the reconcile itself did what it should


async def test_a_hook_that_overruns_is_killed_with_its_children(
    path_world: World, tmp_path: Path
) -> None:
    """A hook still running at exec_hook_timeout is killed, its child processes too,
    and recorded as timed-out."""
    world = path_world
    app = world.clone("app")
    pids = tmp_path / "pids"
    script = f"sleep 30 & echo $! > {pids}; echo $$ >> {pids}; wait"
    repo = RepoConfig(
        "data", app, poll_interval=0, exec_hook=("/bin/sh", "-c", script), exec_hook_timeout=0.5
    )
    runner = Runner(repo)
    async with anyio.create_task_group() as group:
        group.start_soon(runner.serve)
        world.remote_commit({"data.txt": "2\n"}, "remote moved")
        started = time.monotonic()
        record = await runner.trigger("manual").wait()
        assert time.monotonic() - started < 5
        runner.close()
        group.cancel_scope.cancel()
    assert record.hook is not None
    assert record.hook.status == "timed-out"
    assert record.hook.error == "killed after 0.5s"
    for pid in map(int, pids.read_text().split()):
        assert _ends_within(pid, 5.0)


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether ``pid`` has ended (exited, or a zombie nobody reaped) within ``seconds``.

    A SIGKILL is delivered asynchronously: the process may still be tearing down when
    ``killpg`` returns, so its end is awaited (a pidfd turns readable when it exits).
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
        return bool(readable)
    finally:
        os.close(fd)


async def test_a_hook_that_cannot_start_is_a_failure(path_world: World, tmp_path: Path) -> None:
    """A hook whose program does not exist is recorded failed, saying so."""
    world = path_world
    app = world.clone("app")
    repo = RepoConfig("data", app, poll_interval=0, exec_hook=(str(tmp_path / "missing"),))
    runner = Runner(repo)
    async with anyio.create_task_group() as group:
        group.start_soon(runner.serve)
        world.remote_commit({"data.txt": "2\n"}, "remote moved")
        record = await runner.trigger("manual").wait()
        runner.close()
        group.cancel_scope.cancel()
    assert record.hook is not None
    assert record.hook.status == "failed"
    assert record.hook.error is not None
    assert record.hook.error.startswith("cannot start")
