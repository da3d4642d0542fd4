"""A run's guard (``reconcile(..., guard=...)``): asked before every write, and once
its lock is gone the run writes nothing more, ending fetch-failed or blocked."""

from __future__ import annotations

from dataclasses import dataclass

from gitutil import World, branches, rev

from reconcile import LockLostError, Outcome, PushStatus, RunGuard, reconcile

GONE = "the test's lock is gone"


@dataclass
class Losing:
    """A guard whose lock is gone from its ``at``-th question on (0: never)."""

    at: int = 0
    asked: int = 0

    def lost(self) -> str | None:
        self.asked += 1
        return GONE if self.at and self.asked >= self.at else None


class Raising:
    """A guard that cannot tell."""

    def lost(self) -> str | None:
        raise ConnectionError("no route to the lock server")


def test_a_guard_is_a_run_guard() -> None:
    """Anything with a ``lost()`` method is a RunGuard; LockLostError is the library's."""
    assert isinstance(Losing(), RunGuard)
    assert not isinstance(object(), RunGuard)
    assert issubclass(LockLostError, Exception)


def test_a_guard_that_holds_is_asked_before_each_write(path_world: World) -> None:
    """A rebase with a guard that holds: asked at the start, before the fetch, the
    branch's move and the push, and the run ends as without one."""
    world = path_world
    app = world.clone("app")
    world.commit(app, {"mine.txt": "m\n"}, "local")
    world.remote_commit({"theirs.txt": "t\n"}, "remote")
    guard = Losing()
    result = reconcile(world.spec(app), guard=guard)
    assert result.outcome is Outcome.REBASED
    assert guard.asked == 4
    assert world.remote_tip() == rev(app, "main")


def test_lost_at_the_start_ends_fetch_failed_having_touched_nothing(path_world: World) -> None:
    """A lock gone when the run starts: fetch-failed, no fetch, nothing written."""
    world = path_world
    app = world.clone("app")
    before, tracking = rev(app, "main"), rev(app, "refs/remotes/origin/main")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    result = reconcile(world.spec(app), guard=Losing(at=1))
    assert result.outcome is Outcome.FETCH_FAILED
    assert result.operations == ()
    assert GONE in result.reason
    assert "stopped before touching the repository" in result.reason
    assert "nothing was written" in result.reason
    assert (rev(app, "main"), rev(app, "refs/remotes/origin/main")) == (before, tracking)


def test_lost_before_the_fetch_ends_fetch_failed(path_world: World) -> None:
    """A lock gone after the start, before the fetch: fetch-failed, the remote unread."""
    world = path_world
    app = world.clone("app")
    tracking = rev(app, "refs/remotes/origin/main")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    result = reconcile(world.spec(app), guard=Losing(at=2))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "stopped before fetching" in result.reason
    assert rev(app, "refs/remotes/origin/main") == tracking
    [fetch] = result.operations
    assert (fetch.kind, fetch.result, fetch.bytes) == ("fetch", "failed", 0)


def test_lost_before_a_fast_forward_blocks_and_moves_nothing(path_world: World) -> None:
    """Fetched, then the lock is gone: blocked before the branch moves."""
    world = path_world
    app = world.clone("app")
    before = rev(app, "main")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    result = reconcile(world.spec(app), guard=Losing(at=3))
    assert result.outcome is Outcome.BLOCKED
    assert "stopped before moving main" in result.reason
    assert GONE in result.reason
    assert rev(app, "main") == before == result.new_commit
    assert (app / "data.txt").read_text() == "1\n"
    assert result.remote_commit == new


def test_lost_before_the_push_blocks_and_sends_nothing(path_world: World) -> None:
    """A local commit to push, the lock gone before the push: blocked, the remote as it
    was, and the push reported as not sent for that reason."""
    world = path_world
    app = world.clone("app")
    remote = world.remote_tip()
    world.commit(app, {"mine.txt": "m\n"}, "local")
    result = reconcile(world.spec(app), guard=Losing(at=3))
    assert result.outcome is Outcome.BLOCKED
    assert world.remote_tip() == remote
    assert "stopped before pushing refs/heads/main" in result.reason
    assert (result.push.status, result.push.reason) == (PushStatus.FAILED, "lock-lost")
    assert [op.kind for op in result.operations] == ["fetch", "push"]
    assert result.operations[1].result == "failed"


def test_lost_before_an_escape_creates_no_conflict_branch(path_world: World) -> None:
    """A conflict to escape, the lock gone before the conflict branch is made: blocked,
    no conflict branch anywhere, the local commits where they were."""
    world = path_world
    app = world.clone("app")
    mine = world.commit(app, {"data.txt": "mine\n"}, "local")
    world.remote_commit({"data.txt": "theirs\n"}, "remote")
    result = reconcile(world.spec(app), guard=Losing(at=3))
    assert result.outcome is Outcome.BLOCKED
    assert "stopped before creating the conflict branch conflicts/" in result.reason
    assert branches(app, "conflicts/") == {}
    assert branches(world.remote, "conflicts/") == {}
    assert rev(app, "main") == mine


def test_lost_before_the_reset_keeps_the_escaped_branch_and_the_local_commits(
    path_world: World,
) -> None:
    """The conflict branch pushed, the lock gone before the local reset: blocked, the
    escaped commits both on the remote's conflict branch and still on the local branch."""
    world = path_world
    app = world.clone("app")
    mine = world.commit(app, {"data.txt": "mine\n"}, "local")
    world.remote_commit({"data.txt": "theirs\n"}, "remote")
    result = reconcile(world.spec(app), guard=Losing(at=5))
    assert result.outcome is Outcome.BLOCKED
    assert result.conflict_branch is not None
    assert branches(world.remote, "conflicts/") == {result.conflict_branch: mine}
    assert rev(app, "main") == mine
    assert "stopped before moving main" in result.reason
    assert f"local commits are on {result.conflict_branch}" in result.reason


def test_a_guard_that_raises_counts_as_lost(path_world: World) -> None:
    """A guard that cannot answer is taken as lost: the run writes nothing."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    before = rev(app, "main")
    result = reconcile(world.spec(app), guard=Raising())
    assert result.outcome is Outcome.FETCH_FAILED
    assert "its guard failed: ConnectionError: no route to the lock server" in result.reason
    assert rev(app, "main") == before
