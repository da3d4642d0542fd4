"""Lock files and temporaries left by killed writers, as root and as an unprivileged user.

Each writer here is real: a process that takes a ref lock through libgit2, a fetch,
a blob streamed into the object database, or ``git commit`` waiting for its
editor; the killed ones die by SIGKILL while they hold the file. The unprivileged
cases run both the writer and the next reconcile as the ``postgres`` account (or
as the current user when the tests do not run as root).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitutil import World, git, rev
from unprivileged import Unprivileged, unprivileged  # noqa: F401

from reconcile import Outcome, reconcile

# A writer that takes the ref lock of main through libgit2 and dies holding it.
KILLED_WRITER = """
import signal
import pygit2
repo = pygit2.Repository(sys.argv[1])
with repo.transaction() as txn:
    txn.lock_ref("refs/heads/main")
    os.kill(os.getpid(), signal.SIGKILL)
"""
# A fetch that dies once the pack has started to arrive: its pack_git2_* is left.
KILLED_FETCH = """
import signal
import pygit2

class Die(pygit2.RemoteCallbacks):
    def transfer_progress(self, stats):
        if stats.received_bytes > 0:
            os.kill(os.getpid(), signal.SIGKILL)

repo = pygit2.Repository(sys.argv[1])
repo.remotes["origin"].fetch(["+refs/heads/*:refs/remotes/origin/*"], callbacks=Die())
"""
# A process that holds a file open until its stdin closes.
HOLDER = """
with open(sys.argv[1], "a"):
    print("holding", flush=True)
    sys.stdin.read()
"""
RUN = """
import json, logging
from reconcile import RepoSpec, reconcile
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
result = reconcile(RepoSpec(sys.argv[1], lock_timeout=5))
print(json.dumps({"outcome": result.outcome.value, "reason": result.reason}))
"""


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _killed(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == -signal.SIGKILL, done.stderr


def _here(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child Python of this user."""
    prelude = "import os, sys\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _packs(gitdir: Path, pattern: str) -> list[Path]:
    return sorted((gitdir / "objects" / "pack").glob(pattern))


# --- as the tests' own user -----------------------------------------------------------


def test_a_ref_lock_left_by_a_killed_writer_is_cleared_at_once(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The ref lock of a writer SIGKILLed a moment ago is stale at once (no process
    holds it): the next run clears it and reconciles, without waiting a minute."""
    world = path_world
    app = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    _killed(_here(KILLED_WRITER, str(app)))
    lock = app / ".git" / "refs" / "heads" / "main.lock"
    assert lock.exists()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="reconcile"):
        result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FAST_FORWARDED, result.reason
    assert time.monotonic() - started < 10
    assert rev(app, "main") == new
    assert not lock.exists()
    assert "removed a stale lock file" in caplog.text


def test_a_lock_another_live_process_holds_is_left(path_world: World) -> None:
    """A lock file another live process has open is live, however old: blocked, and kept."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    lock = app / ".git" / "refs" / "heads" / "main.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\n" + HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        _age(lock, 3600)
        result = reconcile(world.spec(app))
        assert result.outcome is Outcome.BLOCKED
        assert "main.lock" in result.reason
        assert lock.exists()
    finally:
        holder.communicate("")
    assert reconcile(world.spec(app)).outcome is Outcome.FAST_FORWARDED


def test_git_commit_waiting_for_its_editor_keeps_its_index_lock(path_world: World) -> None:
    """git commit closes index.lock while the editor runs: the git process at work in
    the repository keeps the lock live until it is done."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"other.txt": "remote\n"}, "remote")
    (app / "data.txt").write_text("committed by hand\n")
    fifo = app.parent / "editor.fifo"
    os.mkfifo(fifo)
    editor = f"sh -c 'read line < {fifo}; echo by-hand > \"$1\"' --"
    commit = subprocess.Popen(
        ["git", "commit", "-q", "-a"],
        cwd=app,
        env=os.environ | {"GIT_EDITOR": editor},
    )
    try:
        index_lock = app / ".git" / "index.lock"
        with fifo.open("w") as release:  # opens once the editor waits on it
            assert index_lock.exists()
            _age(index_lock, 3600)
            result = reconcile(world.spec(app))
            assert result.outcome is Outcome.BLOCKED
            assert "index.lock" in result.reason
            assert index_lock.exists()
            release.write("go\n")
    finally:
        assert commit.wait(timeout=30) == 0
    assert git(app, "log", "-1", "--format=%s") == "by-hand"
    assert reconcile(world.spec(app)).outcome is Outcome.REBASED


def test_temporaries_of_a_killed_fetch_are_removed_once_old(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The pack_git2_* a killed fetch leaves never blocks a run; nobody holding it, it
    is removed once an hour old, and one a process holds is kept however old."""
    world = path_world
    app = world.clone("app", bare=True)
    world.remote_commit({f"f{i}.txt": f"{i} {os.urandom(512).hex()}\n" for i in range(200)}, "big")
    _killed(_here(KILLED_FETCH, str(app)))
    [left] = _packs(app, "pack_git2_*")
    assert reconcile(world.spec(app)).outcome is Outcome.FAST_FORWARDED
    assert left.exists()  # young: kept
    held = app / "objects" / "tmp_object_git2_0123456789abcdef"
    held.write_bytes(b"being written")
    _age(left, 2 * 3600)
    _age(held, 2 * 3600)
    with held.open("ab"), caplog.at_level(logging.WARNING, logger="reconcile"):
        assert reconcile(world.spec(app)).outcome is Outcome.IN_SYNC
    assert not left.exists()
    assert held.exists()
    assert f"removed a temporary file left by a crashed process: {left}" in caplog.text
    assert subprocess.run(["git", "-C", str(app), "fsck", "--strict"], check=False).returncode == 0


def test_every_stale_lock_and_old_temporary_is_found_wherever_it_is(
    path_world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Locks nobody holds are cleared at the top of the git directory and at any depth
    under refs/ (dot-names too), and old temporaries in objects/ and objects/pack/;
    a folder under refs/ that is a symlink is not followed, and files that only look
    alike (a lock-named folder, a name that merely contains the prefix) are left."""
    world = path_world
    app = world.clone("app")
    gitdir = app / ".git"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = elsewhere / "main.lock"
    (gitdir / "refs" / "linked").symlink_to(elsewhere, target_is_directory=True)
    stale = [
        gitdir / "index.lock",
        gitdir / "packed-refs.lock",
        gitdir / "refs" / "heads" / "main.lock",
        gitdir / "refs" / "heads" / "team" / "a" / "topic.lock",
        gitdir / "refs" / "remotes" / "origin" / ".hidden.lock",
        gitdir / "refs" / "tags" / "v1.lock",
    ]
    temporaries = [
        gitdir / "objects" / "pack" / "tmp_pack_abc",
        gitdir / "objects" / "pack" / "pack_git2_0123",
        gitdir / "objects" / "tmp_object_git2_4567",
        gitdir / "objects" / "streamed_git2_89ab",
    ]
    kept = [outside, gitdir / "objects" / "pack" / "old_tmp_pack", gitdir / "objects" / "x_tmp_"]
    for path in stale + temporaries + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left behind\n")
        _age(path, 2 * 3600)
    (gitdir / "refs" / "heads" / "folder.lock").mkdir()
    with caplog.at_level(logging.WARNING, logger="reconcile"):
        result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert [p for p in stale + temporaries if p.exists()] == []
    assert all(p.exists() for p in kept)
    assert (gitdir / "refs" / "heads" / "folder.lock").is_dir()
    for path in stale:
        assert f"removed a stale lock file left by a crashed process: {path}" in caplog.text
    for path in temporaries:
        assert f"removed a temporary file left by a crashed process: {path}" in caplog.text


# --- as an unprivileged user ----------------------------------------------------------


def _unprivileged_world(user: Unprivileged) -> tuple[World, Path, str]:
    """A remote and a clone in the user's workspace, owned by the user; the remote
    moved on since the clone."""
    world = World(user.workspace)
    world.seed()
    app = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    user.own(user.workspace)
    return world, app, new


def _run_as(user: Unprivileged, app: Path) -> dict[str, str]:
    done = user.run(RUN, str(app))
    assert done.returncode == 0, done.stderr
    found: dict[str, str] = json.loads(done.stdout)
    found["log"] = done.stderr
    return found


def test_unprivileged_run_clears_the_lock_its_killed_writer_left(
    user_world: tuple[Unprivileged, Path, str],
) -> None:
    """As a non-root user (who may not look at root's processes), the ref lock of the
    user's own SIGKILLed writer is stale at once and is cleared."""
    user, app, new = user_world
    _killed(user.run(KILLED_WRITER, str(app)))
    lock = app / ".git" / "refs" / "heads" / "main.lock"
    assert lock.stat().st_uid == user.uid
    found = _run_as(user, app)
    assert found["outcome"] == "fast-forwarded", found
    assert not lock.exists()
    assert "removed a stale lock file" in found["log"]
    assert (app / ".git" / "refs" / "heads" / "main").read_text().strip() == new


def test_unprivileged_run_leaves_a_lock_the_users_live_writer_holds(
    user_world: tuple[Unprivileged, Path, str],
) -> None:
    """A lock the user's live process holds open is live for that user's run too."""
    user, app, _new = user_world
    lock = app / ".git" / "refs" / "heads" / "main.lock"
    holder = user.popen(HOLDER, str(lock), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        _age(lock, 3600)
        found = _run_as(user, app)
        assert found["outcome"] == "blocked", found
        assert "main.lock" in found["reason"]
        assert lock.exists()
    finally:
        holder.communicate("")
    assert _run_as(user, app)["outcome"] == "fast-forwarded"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a lock made by another user (root)")
def test_unprivileged_run_leaves_another_users_lock(
    user_world: tuple[Unprivileged, Path, str],
) -> None:
    """A lock another user made cannot be decided by an unprivileged run (that user's
    processes may be hidden from it): live, reported, and kept, however old."""
    user, app, _new = user_world
    lock = app / ".git" / "index.lock"
    lock.write_text("")
    _age(lock, 7 * 24 * 3600)
    found = _run_as(user, app)
    assert found["outcome"] == "blocked", found
    assert "index.lock may belong to a process this run cannot look at" in found["reason"]
    assert lock.exists()


def test_unprivileged_run_removes_old_temporaries(
    user_world: tuple[Unprivileged, Path, str],
) -> None:
    """As a non-root user: the pack temporary of the user's killed fetch goes once an
    hour old; another user's temporary only after two weeks, as git gc's would."""
    user, app, _new = user_world
    _killed(user.run(KILLED_FETCH, str(app)))
    [left] = _packs(app / ".git", "pack_git2_*")
    assert left.stat().st_uid == user.uid
    _age(left, 2 * 3600)
    foreign = app / ".git" / "objects" / "pack" / "tmp_pack_foreign"
    recent = app / ".git" / "objects" / "pack" / "tmp_pack_recent"
    for path, days in ((foreign, 15), (recent, 2)):
        path.write_bytes(b"another user's")
        _age(path, days * 24 * 3600)
    found = _run_as(user, app)
    assert found["outcome"] == "fast-forwarded", found
    assert not left.exists()
    # Made by root when the tests run as root: undecided for the user, so kept until
    # two weeks old; made by the user otherwise, and then removed as an hour old.
    assert recent.exists() == (os.geteuid() == 0)
    assert not foreign.exists()


@pytest.fixture
def user_world(unprivileged: Unprivileged) -> tuple[Unprivileged, Path, str]:  # noqa: F811
    """The unprivileged user, and a clone it owns whose remote moved on."""
    _world, app, new = _unprivileged_world(unprivileged)
    return unprivileged, app, new
