"""Stopping a run: SIGINT and SIGTERM to a real `git-reconcile run`, and CancelToken,
against remotes that hang while connecting, in the SSH handshake and in a push."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitutil import World, git, rev
from servers.sshgit import HangingServer

from plugin.cli import ExitCode
from reconcile import CancelToken, Outcome, PushStatus, RepoSpec, SSHKey, reconcile

BOUND = 5.0  # seconds from the signal to the exit: generous; it takes milliseconds
SIGNALS = [(signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, ExitCode.TERMINATED)]


def _leftovers(repo: Path) -> list[str]:
    gitdir = repo / ".git" if (repo / ".git").is_dir() else repo
    found = [str(p) for p in gitdir.rglob("*.lock") if p.name != "git-reconcile.lock"]
    return found + [str(p) for p in (gitdir / "objects" / "pack").glob("tmp_*")]


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "plugin", "run", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str], number: signal.Signals) -> tuple[float, str, str]:
    """Send ``number`` and wait for the exit: how long it took, stdout and stderr."""
    sent = time.monotonic()
    proc.send_signal(number)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return time.monotonic() - sent, out, err


def _until(condition: Any, what: str, seconds: float = 30.0) -> None:
    """Wait for ``condition()`` to hold (it is checked, not slept on)."""
    ends = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < ends, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    """A key file: a hanging server never gets as far as asking for it."""
    path = tmp_path / "id_ed25519"
    path.write_text("not read\n")
    return path


@pytest.mark.parametrize(("number", "code"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_run_in_the_ssh_handshake(
    world: World, key: Path, number: signal.Signals, code: ExitCode
) -> None:
    """SIGINT or SIGTERM to a run whose SSH server accepted and never answers (the
    handshake hangs) ends it within the bound, long before the timeout: exit 130 or
    143, one line, nothing changed."""
    app = world.clone("app")
    before = rev(app, "main")
    with HangingServer() as hanging:
        git(app, "remote", "set-url", "origin", hanging.url())
        proc = _start([str(app), "--ssh-key", str(key), "--timeout", "120", "--deadline", "300"])
        assert hanging.connected.wait(30), proc.communicate()
        took, out, err = _stop(proc, number)
    assert proc.returncode == code, err
    assert took < BOUND
    assert out == ""
    assert err.strip() == "git-reconcile: interrupted: nothing changed"
    assert rev(app, "main") == before
    assert _leftovers(app) == []


@pytest.fixture
def unanswered_port() -> Iterator[tuple[int, set[int]]]:
    """A port whose listener never accepts and whose backlog is full, so that a connect
    to it waits for an answer to its SYN that never comes; and the local ports of the
    sockets that fill it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port, {filler.getsockname()[1] for filler in fillers}
    finally:
        for sock in [*fillers, listener]:
            sock.close()


def _connecting_to(port: int, besides: set[int]) -> bool:
    """A socket other than those from ``besides`` (local ports) is in SYN_SENT towards
    ``port`` on 127.0.0.1."""
    with open("/proc/net/tcp", encoding="ascii") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(
        row[2] == f"0100007F:{port:04X}"
        and row[3] == "02"
        and int(row[1].rsplit(":", 1)[1], 16) not in besides
        for row in rows
    )


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads /proc/net/tcp")
def test_a_signal_stops_a_run_in_the_tcp_connect(
    path_world: World, key: Path, unanswered_port: tuple[int, set[int]]
) -> None:
    """SIGINT to a run still waiting for its TCP connection to be accepted ends it
    within the bound, with nothing changed."""
    port, fillers = unanswered_port
    app = path_world.clone("app")
    git(app, "remote", "set-url", "origin", f"ssh://git@127.0.0.1:{port}/x.git")
    proc = _start([str(app), "--ssh-key", str(key), "--timeout", "120", "--json"])
    _until(lambda: _connecting_to(port, fillers), "the run to connect")
    took, out, err = _stop(proc, signal.SIGINT)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert took < BOUND
    assert "git-reconcile: interrupted: nothing changed" in err
    assert '"result": "cancelled"' in out  # with --json the result is printed too


def _hook(world: World, name: str, text: str) -> None:
    hook = world.remote / "hooks" / name
    hook.write_text(text)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_a_signal_during_a_push_says_what_had_changed(ssh_world: World) -> None:
    """SIGINT while the server holds a push (its pre-receive hook waits) ends the run
    within the bound; the line says the branch was rebased locally and the push did
    not finish, and the remote is as it was."""
    world = ssh_world
    app = world.clone("app")
    world.remote_commit({"r.txt": "r\n"}, "remote")
    world.commit(app, {"l.txt": "l\n"}, "local")
    before, remote_before = rev(app, "main"), world.remote_tip()
    started, release = world.root / "started", world.root / "release"
    _hook(
        world,
        "pre-receive",
        f"#!/bin/sh\ntouch {started}\nwhile [ ! -e {release} ]; do sleep 0.05; done\nexit 1\n",
    )
    ssh = ["--ssh-key", str(world.ssh.client_key_path)]
    proc = _start([str(app), *ssh, "--known-hosts", str(world.ssh.known_hosts_path)])
    try:
        _until(started.exists, "the push to reach the hook")
        took, _out, err = _stop(proc, signal.SIGINT)
    finally:
        release.touch()
    after = rev(app, "main")
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert took < BOUND
    assert after != before
    assert (
        err.strip()
        == (
            f"git-reconcile: interrupted: main moved locally from {before[:10]} to "  # type: ignore[index]
            f"{after[:10]} (rebased); the push did not finish: run again"  # type: ignore[index]
        )
    )
    assert world.ssh.wait_idle()
    assert world.remote_tip() == remote_before


def test_cancel_token_stops_an_ssh_handshake_at_once(path_world: World, key: Path) -> None:
    """CancelToken.cancel() from another thread ends a fetch whose SSH handshake
    hangs, long before the timeout: fetch-failed, cancelled, nothing left behind."""
    app = path_world.clone("app")
    token = CancelToken()
    with HangingServer() as hanging:
        git(app, "remote", "set-url", "origin", hanging.url())
        spec = RepoSpec(app, timeout=120, credentials=SSHKey(private_key=key))
        cancelled: list[float] = []

        def cancel_when_connected() -> None:
            assert hanging.connected.wait(30)
            cancelled.append(time.monotonic())
            token.cancel()

        canceller = threading.Thread(target=cancel_when_connected)
        canceller.start()
        result = reconcile(spec, cancel=token)
        ended = time.monotonic()
        canceller.join()
    assert result.outcome is Outcome.FETCH_FAILED
    assert result.operations[0].result == "cancelled"
    assert ended - cancelled[0] < BOUND
    assert _leftovers(app) == []


def test_a_cancel_never_cuts_a_local_step(path_world: World) -> None:
    """A cancel that lands after the last network operation does not stop the run's
    local step: the fast-forward completes."""
    world = path_world
    app = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    token = CancelToken()
    # The fetch's last progress report cancels the token: the move comes after it.
    result = reconcile(world.spec(app), cancel=token, progress=lambda p: token.cancel())
    assert result.outcome is Outcome.FAST_FORWARDED
    assert rev(app, "main") == new
    assert result.push.status is PushStatus.SKIPPED
