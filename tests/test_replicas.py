"""plugin.replicas against a real PostgreSQL 15: the advisory locks and their keys,
the run's guard when the lock's connection is closed under it, the triggers over
LISTEN/NOTIFY (never one's own, and a catch-up after a reconnect), and once-only work."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import psycopg
import pytest
from gitutil import World, rev
from servers.pg import postgres_server, postgres_url  # noqa: F401

from plugin.replicas import (
    REPOSITORY,
    AdvisoryLock,
    Replicas,
    Trigger,
    advisory_key,
    libpq_url,
    name_hash,
)
from reconcile import CommitRequest, Outcome, PushStatus, RepoLockTimeout, reconcile

SESSION_TIMEOUT = 3.0


def _terminate(url: str, application: str) -> int:
    """Close, from the server's side, every session whose application name starts
    with ``application``; how many there were."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
            (application + "%",),
        ).fetchall()
    return len(rows)


@pytest.fixture
def lock_pair(postgres_url: str) -> Iterator[tuple[AdvisoryLock, AdvisoryLock]]:  # noqa: F811
    """Two replicas' locks of one repository."""
    key = advisory_key(REPOSITORY, "data")
    first = AdvisoryLock(postgres_url, key, what="'data'", replica_id="r1", session_timeout=3)
    second = AdvisoryLock(postgres_url, key, what="'data'", replica_id="r2", session_timeout=3)
    yield first, second
    first.close()
    second.close()


def test_the_key_is_the_same_in_every_process() -> None:
    """A repository's key is a fixed namespace and a hash of its name that another
    process computes alike (not Python's salted hash()); both halves fit an int4."""
    here = advisory_key(REPOSITORY, "data")
    there = subprocess.run(
        [
            sys.executable,
            "-c",
            "from plugin.replicas import REPOSITORY, advisory_key;"
            "print(*advisory_key(REPOSITORY, 'data'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "random"},
    ).stdout.split()
    assert tuple(map(int, there)) == here
    assert 0 <= here[0] < 2**31
    assert 0 <= here[1] < 2**31
    assert name_hash("data") != name_hash("data2")


def test_one_replica_holds_a_repository_lock_at_a_time(
    lock_pair: tuple[AdvisoryLock, AdvisoryLock],
) -> None:
    """While one replica holds the lock the other cannot take it, and waiting for it
    ends in a timeout that names it; once let go, the other takes it at once."""
    first, second = lock_pair
    first.acquire(1.0)
    assert first.held
    assert first.lost() is None
    assert not second.try_acquire()
    with pytest.raises(RepoLockTimeout, match="another replica holds the lock on 'data'"):
        second.acquire(0.3)
    first.release()
    assert not first.held
    assert second.try_acquire()
    assert second.lost() is None
    assert first.lost() is not None  # asked without holding it: never "may write"


def test_a_connection_closed_under_the_holder_loses_the_lock(
    postgres_url: str,  # noqa: F811
    lock_pair: tuple[AdvisoryLock, AdvisoryLock],
) -> None:
    """pg_terminate_backend of the holder's session: its lock says why it is lost,
    and the other replica takes it."""
    first, second = lock_pair
    first.acquire(1.0)
    assert _terminate(postgres_url, "git-reconcile lock r1") == 1
    why = first.lost()
    assert why is not None
    assert "this replica (r1) lost its lock on 'data'" in why
    assert second.try_acquire()
    first.release()  # in doubt: the connection is closed, nothing raised
    assert second.lost() is None


class _TerminatedAfterFetch:
    """The lock of a run whose connection the server closes once the fetch wrote the
    remote-tracking ref: asked (as the run's guard) after that, it must say lost."""

    def __init__(self, lock: AdvisoryLock, url: str, clone: Path, tip: str) -> None:
        self.lock, self.url, self.clone, self.tip = lock, url, clone, tip
        self.terminated = False

    def lost(self) -> str | None:
        if not self.terminated and rev(self.clone, "refs/remotes/origin/main") == self.tip:
            self.terminated = _terminate(self.url, "git-reconcile lock r1") == 1
        return self.lock.lost()


def test_a_run_whose_lock_connection_is_closed_stops_before_its_next_write(
    postgres_url: str,  # noqa: F811
    ssh_world: World,
    lock_pair: tuple[AdvisoryLock, AdvisoryLock],
) -> None:
    """The lock's session closed after the fetch: the run neither rebases nor pushes;
    it ends blocked with the reason, the branch and the remote as they were."""
    world = ssh_world
    app = world.clone("app")
    mine = world.commit(app, {"mine.txt": "m\n"}, "local")
    theirs = world.remote_commit({"theirs.txt": "t\n"}, "remote")
    lock = lock_pair[0]
    lock.acquire(1.0)
    guard = _TerminatedAfterFetch(lock, postgres_url, app, theirs)
    result = reconcile(world.spec(app), guard=guard)
    assert guard.terminated
    assert result.outcome is Outcome.BLOCKED
    assert "lost its lock on 'data'" in result.reason
    assert "stopped before moving main" in result.reason
    assert rev(app, "main") == mine
    assert world.remote_tip() == theirs
    assert [op.kind for op in result.operations] == ["fetch"]


def test_a_run_whose_lock_is_gone_before_the_fetch_ends_fetch_failed(
    postgres_url: str,  # noqa: F811
    ssh_world: World,
    lock_pair: tuple[AdvisoryLock, AdvisoryLock],
) -> None:
    """The lock's session closed before the run: a commit request commits nothing, the
    remote is not read, and the run ends fetch-failed with the reason."""
    world = ssh_world
    app = world.clone("app")
    (app / "new.txt").write_text("unsaved\n")
    before, tracking = rev(app, "main"), rev(app, "refs/remotes/origin/main")
    world.remote_commit({"theirs.txt": "t\n"}, "remote")
    remote = world.remote_tip()
    lock = lock_pair[0]
    lock.acquire(1.0)
    assert _terminate(postgres_url, "git-reconcile lock r1") == 1
    result = reconcile(world.spec(app), guard=lock, commit=CommitRequest(message="Save"))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "lost its lock on 'data'" in result.reason
    assert result.commit is None
    assert result.push.status is not PushStatus.OK
    assert (rev(app, "main"), rev(app, "refs/remotes/origin/main")) == (before, tracking)
    assert world.remote_tip() == remote


def test_once_only_work_runs_on_one_replica_at_a_time(postgres_url: str) -> None:  # noqa: F811
    """exclusive(name): the second replica finds it held and skips; after the first
    is done, it gets it; the holder's Exclusive is a guard that holds."""
    one, two = Replicas(postgres_url, replica_id="r1"), Replicas(postgres_url, replica_id="r2")

    async def main() -> None:
        async with one.exclusive("prune") as first:
            assert first.held
            assert first.lost() is None
            async with two.exclusive("prune") as second:
                assert not second.held
                assert second.lost() is not None
            async with one.exclusive("prune") as again:  # this process: one task at a time
                assert not again.held
        async with two.exclusive("prune") as later:
            assert later.held

    try:
        anyio.run(main)
    finally:
        one.close()
        two.close()


def test_replicas_hear_each_others_triggers_and_catch_up_after_a_reconnect(
    postgres_url: str,  # noqa: F811
) -> None:
    """A trigger one replica publishes is heard by the other, never by itself; the
    listener's session closed, it connects again and says so (the catch-up), then
    hears the next trigger."""
    one, two = Replicas(postgres_url, replica_id="r1"), Replicas(postgres_url, replica_id="r2")
    heard: list[Trigger] = []
    own: list[Trigger] = []

    async def main() -> None:
        arrived, back = anyio.Event(), anyio.Event()
        events = {"arrived": arrived}

        def on_heard(trigger: Trigger) -> None:
            heard.append(trigger)
            events["arrived"].set()

        async with anyio.create_task_group() as group:
            await group.start(two.listen, on_heard, back.set)
            await group.start(one.listen, own.append, lambda: None)
            assert one.listening
            assert two.listening
            with anyio.fail_after(20):
                await anyio.to_thread.run_sync(one.publish, "data", "abc123", "d-1", "webhook")
                await anyio.to_thread.run_sync(two.publish, "data", None, "m-1", "manual")
                await arrived.wait()
                assert _terminate(postgres_url, "git-reconcile listen r2") == 1
                await back.wait()
                events["arrived"] = anyio.Event()
                await anyio.to_thread.run_sync(one.publish, "data", None, "m-2", "manual")
                await events["arrived"].wait()
            group.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        one.close()
        two.close()
    assert [(t.repo, t.commit, t.trigger_id, t.kind, t.replica) for t in heard] == [
        ("data", "abc123", "d-1", "webhook", "r1"),
        ("data", None, "m-2", "manual", "r1"),
    ]
    assert [t.trigger_id for t in own] == ["m-1"]
    assert two.listener is not None
    assert two.listener.reconnects == 1


_HOLDER = """
import sys
from plugin.replicas import REPOSITORY, AdvisoryLock, advisory_key
lock = AdvisoryLock(sys.argv[1], advisory_key(REPOSITORY, "data"), what="'data'",
                    replica_id="frozen", session_timeout=float(sys.argv[2]))
lock.acquire(5.0)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_frozen_holder_loses_the_lock_within_the_failure_time(
    postgres_url: str,  # noqa: F811
    lock_pair: tuple[AdvisoryLock, AdvisoryLock],
) -> None:
    """A holder that stops (SIGSTOP: its host's TCP stack still answers keepalives)
    keeps the lock while its session lives, and the server ends that session after
    the failure time (idle_session_timeout, kept off while alive by the heartbeat):
    the other replica then takes the lock, within the failure time and a margin."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, postgres_url, str(SESSION_TIMEOUT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        waiting = lock_pair[1]
        assert not waiting.try_acquire()
        holder.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        waiting.acquire(SESSION_TIMEOUT + 10)
        took = time.monotonic() - stopped
        assert took < SESSION_TIMEOUT + 2, took
        assert waiting.lost() is None
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.kill()
        holder.wait(timeout=10)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
