"""One deadline per run: retries cannot exceed it, and a try under way is cut at it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitutil import World, git
from servers.sshgit import HangingServer

from plugin.cli import ExitCode, main
from reconcile import InvalidSpecError, Outcome, RepoSpec, Retry, SSHKey, reconcile


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    path.write_text("never read: no server here gets that far\n")
    return path


def test_the_default_deadline_is_a_minute() -> None:
    """RepoSpec's deadline defaults to 60 s, beside a 30 s timeout per wait."""
    spec = RepoSpec(".")
    assert (spec.deadline, spec.timeout) == (60.0, 30.0)


@pytest.mark.parametrize("deadline", [0, -1, 86_401])
def test_a_deadline_out_of_range_is_refused(deadline: float) -> None:
    """A deadline must be positive and at most a day."""
    with pytest.raises(InvalidSpecError, match="deadline must be a positive number"):
        RepoSpec(".", deadline=deadline)


def test_retries_of_a_hanging_remote_end_at_the_deadline(path_world: World, key: Path) -> None:
    """Against a server that never answers, tries that each wait out their timeout
    stop at the deadline: the last is cut short, and the run took the deadline, not
    attempts times the timeout."""
    app = path_world.clone("app")
    with HangingServer() as hanging:
        git(app, "remote", "set-url", "origin", hanging.url())
        spec = RepoSpec(
            app,
            timeout=0.5,
            deadline=1.2,
            credentials=SSHKey(private_key=key),
            retry=Retry(attempts=10, initial=0.0),
        )
        started = time.monotonic()
        result = reconcile(spec)
        took = time.monotonic() - started
    assert result.outcome is Outcome.FETCH_FAILED
    [fetch] = result.operations
    assert fetch.code == "timeout"
    assert "deadline of 1.2 s passed" in (fetch.error or "")
    assert 2 <= fetch.attempts <= 3  # 10 tries of 0.5 s would take 5 s
    assert 1.1 < took < 1.2 + 2.0


def test_a_wait_under_way_is_cut_to_what_is_left(path_world: World, key: Path) -> None:
    """One try whose wait could last its whole 30 s timeout is stopped at the 1 s deadline."""
    app = path_world.clone("app")
    with HangingServer() as hanging:
        git(app, "remote", "set-url", "origin", hanging.url())
        spec = RepoSpec(app, timeout=30, deadline=1.0, credentials=SSHKey(private_key=key))
        started = time.monotonic()
        result = reconcile(spec)
        took = time.monotonic() - started
    assert result.outcome is Outcome.FETCH_FAILED
    assert result.operations[0].attempts == 1
    assert "deadline" in result.reason
    assert 0.9 < took < 1.0 + 2.0


def test_no_try_starts_after_the_deadline(path_world: World, key: Path) -> None:
    """Against a port that refuses at once, tries follow each other until the deadline,
    then no further one starts, however many the policy allows."""
    app = path_world.clone("app")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        git(app, "remote", "set-url", "origin", f"ssh://git@127.0.0.1:{port}/x.git")
        spec = RepoSpec(
            app,
            deadline=0.5,
            credentials=SSHKey(private_key=key),
            retry=Retry(attempts=100_000, initial=0.02, multiplier=1.0, max_delay=0.02),
        )
        started = time.monotonic()
        result = reconcile(spec)
        took = time.monotonic() - started
    [fetch] = result.operations
    # The last try either was refused like the others, or was under way when the
    # deadline passed and was stopped there (a loaded machine makes the second likely).
    assert fetch.code == "connection" or (
        fetch.code == "timeout" and "deadline" in (fetch.error or "")
    ), fetch
    assert 1 < fetch.attempts < 100_000
    assert 0.45 < took < 0.5 + 1.5


def test_deadline_on_the_command_line(path_world: World, key: Path) -> None:
    """`run --deadline 1` with the default timeout and retries ends a hanging remote's
    run in about a second, fetch-failed (exit 4)."""
    app = path_world.clone("app")
    with HangingServer() as hanging:
        git(app, "remote", "set-url", "origin", hanging.url())
        started = time.monotonic()
        argv = ["run", str(app), "--ssh-key", str(key), "--deadline", "1"]
        done = subprocess.run(
            [sys.executable, "-m", "plugin", *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        took = time.monotonic() - started
    assert done.returncode == ExitCode.FETCH_FAILED, done.stderr
    assert "deadline of 1 s passed" in done.stdout
    assert took < 1 + 5  # the interpreter's start-up included


def test_deadline_zero_is_bad_input(path_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """`run --deadline 0` is refused in one line with exit 2."""
    app = path_world.clone("app")
    assert main(["run", str(app), "--deadline", "0"]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "git-reconcile: --deadline must be a positive number of seconds, at most a day, not 0.0"
    ]
