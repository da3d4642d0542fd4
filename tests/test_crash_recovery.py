"""Recovery from the states a crash leaves mid-move, each built exactly.

A move's checkout cut short is rebuilt here the way libgit2 leaves it: part of
the paths written by a real checkout (FORCE, limited to them, the index left old),
one file cut short, the move note and the stale ref lock of the killed
transaction. The next run must finish the move when every path is the move's, and
touch nothing (blocked, naming the paths) when one is not. ``test_crash.py`` kills
real runs; this file covers the states between two of libgit2's steps that a kill
cannot be timed to land in.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import pygit2
import pytest
from gitutil import World, git, rev
from pygit2.enums import CheckoutStrategy, FileMode

from reconcile import Outcome, reconcile
from reconcile._git import JOURNAL

Files = dict[str, tuple[bytes, FileMode]]  # path -> (content, mode)

BLOB, EXEC, LINK = FileMode.BLOB, FileMode.BLOB_EXECUTABLE, FileMode.LINK
BIG_OLD = b"".join(b"old line %d\n" % i for i in range(4000))
BIG_NEW = b"".join(b"new line %d\n" % i for i in range(4000))

OLD: Files = {
    "keep.txt": (b"kept\n", BLOB),
    **{f"mod{i}.txt": (b"old %d\n" % i, BLOB) for i in range(1, 6)},
    "gone.txt": (b"deleted by the move\n", BLOB),
    "tool.sh": (b"#!/bin/sh\necho hi\n", BLOB),
    "link": (b"mod1.txt", LINK),
    "d": (b"a file that becomes a directory\n", BLOB),
    "e/inner.txt": (b"a directory that becomes a file\n", BLOB),
    "big.txt": (BIG_OLD, BLOB),
}
NEW: Files = {
    "keep.txt": (b"kept\n", BLOB),
    **{f"mod{i}.txt": (b"new %d\n" % i, BLOB) for i in range(1, 6)},
    "tool.sh": (b"#!/bin/sh\necho hi\n", EXEC),
    "link": (b"mod2.txt", LINK),
    "d/inner.txt": (b"now inside d\n", BLOB),
    "e": (b"now a file\n", BLOB),
    "big.txt": (BIG_NEW, BLOB),
    "add1.txt": (b"added 1\n", BLOB),
    "add2.txt": (b"added 2\n", BLOB),
}
TOUCHED = sorted(set(OLD) ^ set(NEW) | {p for p in OLD if p in NEW and OLD[p] != NEW[p]})


def _commit(repo_path: Path, files: Files, message: str, parents: list[str]) -> str:
    """Commit ``files`` with their modes on main of ``repo_path``, by plumbing."""
    repo = pygit2.Repository(str(repo_path))
    index = pygit2.Index()
    for path, (content, mode) in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(content), mode))
    tree = index.write_tree(repo)
    sig = pygit2.Signature("Writer", "writer@example.invalid", 1_700_000_000, 0)
    oid = repo.create_commit(None, sig, sig, message, tree, [pygit2.Oid(hex=p) for p in parents])
    ref = repo.references.get("refs/heads/main")
    if ref is None:
        repo.create_reference_direct("refs/heads/main", oid, False)
    else:
        ref.set_target(oid)
    return str(oid)


@pytest.fixture
def moving(tmp_path: Path) -> tuple[World, Path, str, str]:
    """A clone at OLD whose remote moved to NEW, fetched: the move is from OLD to NEW."""
    world = World(tmp_path)
    old = _commit(world.remote, OLD, "old", [])
    app = world.clone("app")
    new = _commit(world.remote, NEW, "new", [old])
    git(app, "fetch", "-q", "origin")
    return world, app, old, new


def _cut_short(
    app: Path, old: str, new: str, written: list[str], *, fresh_lock: bool = False
) -> None:
    """Leave ``app`` as a kill during the move from ``old`` to ``new`` would: the note,
    the ref lock of the transaction, the ``written`` paths checked out (the index
    left old)."""
    (app / ".git" / JOURNAL).write_text(f"main {old} {new}\n")
    lock = app / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    if not fresh_lock:
        then = time.time() - 120
        os.utime(lock, (then, then))
    if written:
        repo = pygit2.Repository(str(app))
        strategy = (
            CheckoutStrategy.FORCE
            | CheckoutStrategy.DONT_UPDATE_INDEX
            | CheckoutStrategy.DISABLE_PATHSPEC_MATCH
        )
        tree = repo[new].peel(pygit2.Tree)
        repo.checkout_tree(tree, strategy=strategy, paths=written)  # type: ignore[no-untyped-call]


def _snapshot(app: Path) -> dict[str, tuple[str, bytes]]:
    """Every file of the working tree (and the index file), with its kind and content."""
    found: dict[str, tuple[str, bytes]] = {}
    for path in sorted(app.rglob("*")):
        rel = str(path.relative_to(app))
        if rel.startswith(".git/") and rel != ".git/index":
            continue
        if path.is_symlink():
            found[rel] = ("link", os.fsencode(os.readlink(path)))
        elif path.is_file():
            kind = "exec" if path.stat().st_mode & stat.S_IXUSR else "file"
            found[rel] = (kind, path.read_bytes())
    return found


def _assert_at_new(app: Path, new: str) -> None:
    assert rev(app, "main") == new
    assert git(app, "status", "--porcelain", "--untracked-files=all") == ""
    assert (app / "big.txt").read_bytes() == BIG_NEW
    assert os.readlink(app / "link") == "mod2.txt"
    assert (app / "tool.sh").stat().st_mode & stat.S_IXUSR
    assert (app / "d" / "inner.txt").read_bytes() == b"now inside d\n"
    assert (app / "e").read_bytes() == b"now a file\n"
    assert not (app / "gone.txt").exists()
    assert not (app / ".git" / JOURNAL).exists()
    assert not (app / ".git" / "refs" / "heads" / "main.lock").exists()


HALF = TOUCHED[: len(TOUCHED) // 2]


@pytest.mark.parametrize(
    "written",
    [[], HALF, [p for p in TOUCHED if p != "link"], TOUCHED],
    ids=["nothing-written", "half-written", "all-but-the-symlinks", "all-written"],
)
def test_a_checkout_cut_short_is_finished(
    moving: tuple[World, Path, str, str], written: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Paths old, new, removed or not yet written, one file cut short and one empty:
    the next run finishes the move, and ends in sync with a clean tree."""
    world, app, old, new = moving
    _cut_short(app, old, new, written)
    if "big.txt" not in written:
        (app / "big.txt").write_bytes(BIG_NEW[:5000])  # the file being written
    if "add2.txt" not in written:
        (app / "add2.txt").write_bytes(b"")  # opened, nothing written yet
    with caplog.at_level(logging.WARNING, logger="reconcile"):
        result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert result.old_commit == old
    _assert_at_new(app, new)
    assert "finished an interrupted move of main" in caplog.text


def test_the_index_already_new_is_finished(moving: tuple[World, Path, str, str]) -> None:
    """Killed after the checkout wrote the index, before the ref moved: finished."""
    world, app, old, new = moving
    _cut_short(app, old, new, [])
    repo = pygit2.Repository(str(app))
    repo.checkout_tree(repo[new].peel(pygit2.Tree), strategy=CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
    assert rev(app, "main") == old
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    _assert_at_new(app, new)


def test_other_local_changes_survive_the_finish(moving: tuple[World, Path, str, str]) -> None:
    """A dirty file and an untracked file the move does not touch are kept as they are."""
    world, app, old, new = moving
    _cut_short(app, old, new, HALF)
    (app / "keep.txt").write_text("my edit\n")
    (app / "scratch.txt").write_text("mine\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert rev(app, "main") == new
    assert (app / "keep.txt").read_text() == "my edit\n"
    assert (app / "scratch.txt").read_text() == "mine\n"
    assert git(app, "diff", "--name-only") == "keep.txt"
    assert git(app, "diff", "--cached", "--name-only") == ""
    assert git(app, "ls-files", "--others") == "scratch.txt"


@pytest.mark.parametrize(
    ("path", "content", "kind", "written"),
    [
        ("mod3.txt", b"my own edit\n", "uncommitted changes", HALF),
        ("mod2.txt", b"old", "uncommitted changes", HALF),  # a prefix of the old version only
        ("add1.txt", b"mine, not the move's\n", "an untracked file", HALF),
        ("e/mine.txt", b"in the way of e becoming a file\n", "an untracked file", []),
    ],
    ids=["changed", "prefix-of-old", "untracked-at-a-new-path", "untracked-in-the-way"],
)
def test_a_real_local_change_blocks_and_nothing_moves(
    moving: tuple[World, Path, str, str], path: str, content: bytes, kind: str, written: list[str]
) -> None:
    """A path that matches neither commit is a real change: blocked, naming it and
    its kind, and nothing is written; removing it lets the next run finish."""
    world, app, old, new = moving
    _cut_short(app, old, new, written)
    (app / path).write_bytes(content)
    before = _snapshot(app)
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert path in result.reason
    assert kind in result.reason
    assert "cut short" in result.reason
    assert _snapshot(app) == before
    assert rev(app, "main") == old
    assert (app / ".git" / JOURNAL).exists()
    (app / path).unlink()
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    _assert_at_new(app, new)


def test_a_staged_change_blocks(moving: tuple[World, Path, str, str]) -> None:
    """An index entry that is neither commit's (staged by hand) blocks the finish."""
    world, app, old, new = moving
    _cut_short(app, old, new, HALF)
    (app / "mod4.txt").write_text("staged by hand\n")
    git(app, "add", "mod4.txt")
    (app / "mod4.txt").write_bytes(b"old 4\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "mod4.txt" in result.reason
    assert rev(app, "main") == old


def test_a_fresh_ref_lock_of_a_dead_run_does_not_wait(moving: tuple[World, Path, str, str]) -> None:
    """The ref lock a killed transaction left a moment ago is cleared within about a
    second (no process holds it), not after a minute."""
    world, app, old, new = moving
    _cut_short(app, old, new, HALF, fresh_lock=True)
    started = time.monotonic()
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert time.monotonic() - started < 10
    _assert_at_new(app, new)


def test_a_note_whose_move_finished_is_dropped(
    moving: tuple[World, Path, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Killed after the ref moved, before the note went: the note is removed, nothing else."""
    world, app, old, new = moving
    git(app, "merge", "-q", "--ff-only", "origin/main")
    (app / ".git" / JOURNAL).write_text(f"main {old} {new}\n")
    with caplog.at_level(logging.WARNING, logger="reconcile"):
        result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert not (app / ".git" / JOURNAL).exists()
    assert "interrupted" not in caplog.text


def test_a_note_for_a_branch_moved_since_is_set_aside(
    moving: tuple[World, Path, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A note whose branch someone else moved since is not obeyed: set aside, said so,
    and the run goes on from where the branch is."""
    world, app, old, new = moving
    mine = world.commit(app, {"mine.txt": "a local commit\n"}, "local")
    (app / ".git" / JOURNAL).write_text(f"main {old} {new}\n")
    with caplog.at_level(logging.WARNING, logger="reconcile"):
        result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED, result.reason
    assert not (app / ".git" / JOURNAL).exists()
    [aside] = (app / ".git").glob(f"{JOURNAL}.outdated-*")
    assert aside.read_text() == f"main {old} {new}\n"
    assert "set aside" in caplog.text
    assert rev(app, "main") != mine
    assert git(app, "status", "--porcelain") == ""


def test_a_note_in_a_bare_repository_moves_the_ref_only(tmp_path: Path) -> None:
    """A bare repository has no checkout to finish: the ref moves, the note goes."""
    world = World(tmp_path)
    old = _commit(world.remote, OLD, "old", [])
    app = world.clone("app", bare=True)
    new = _commit(world.remote, NEW, "new", [old])
    git(app, "fetch", "-q", "origin", "+refs/heads/main:refs/remotes/origin/main")
    (app / JOURNAL).write_text(f"main {old} {new}\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert rev(app, "main") == new
    assert not (app / JOURNAL).exists()


def test_a_note_for_a_branch_not_checked_out_moves_the_ref_only(
    moving: tuple[World, Path, str, str],
) -> None:
    """HEAD on another branch since: the noted branch's ref moves, the files stay."""
    world, app, old, new = moving
    git(app, "checkout", "-q", "-b", "other")
    (app / ".git" / JOURNAL).write_text(f"main {old} {new}\n")
    before = _snapshot(app)
    result = reconcile(world.spec(app, branch="other"))
    assert rev(app, "refs/heads/main") == new
    assert not (app / ".git" / JOURNAL).exists()
    assert result.outcome is not Outcome.BLOCKED, result.reason
    assert {k: v for k, v in _snapshot(app).items() if k != ".git/index"} == {
        k: v for k, v in before.items() if k != ".git/index"
    }


@pytest.mark.parametrize(
    "text",
    [
        "main {old} 12\n",
        "main {old}\n",
        "garbage\n",
        "",
        "main {old} {new} extra\n",
        "bad..name {old} {new}\n",
        "main {old_upper} {new}\n",
        "main {old} 0000000000000000000000000000000000000000\n",
        "main {old} {unknown}\n",
    ],
    ids=[
        "truncated",
        "two-fields",
        "garbage",
        "empty",
        "four-fields",
        "bad-branch",
        "upper-case",
        "null-new",
        "unknown-commit",
    ],
)
def test_a_note_that_does_not_parse_is_set_aside_once(
    moving: tuple[World, Path, str, str], text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A truncated or malformed note is not obeyed: it is renamed
    git-reconcile-move.invalid-<UTC>, reported once, and the run goes on."""
    world, app, old, new = moving
    written = text.format(old=old, new=new, old_upper=old.upper(), unknown="ab" * 20)
    (app / ".git" / JOURNAL).write_text(written)
    with caplog.at_level(logging.WARNING, logger="reconcile"):
        result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FAST_FORWARDED, result.reason
    assert rev(app, "main") == new
    [aside] = (app / ".git").glob(f"{JOURNAL}.invalid-*")
    assert aside.read_text() == written
    assert caplog.text.count("set aside a move note") == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="reconcile"):
        assert reconcile(world.spec(app)).outcome is Outcome.IN_SYNC
    assert "set aside" not in caplog.text


def test_a_checkout_cut_short_under_a_crlf_filter_is_finished(
    moving: tuple[World, Path, str, str],
) -> None:
    """With core.autocrlf the files hold the filtered text: a file cut short is a
    prefix of that, and still the move's."""
    world, app, old, new = moving
    git(app, "config", "core.autocrlf", "true")
    git(app, "rm", "-q", "--cached", "-r", ".")
    git(app, "reset", "-q", "--hard")
    assert (app / "mod1.txt").read_bytes() == b"old 1\r\n"
    _cut_short(app, old, new, HALF)
    (app / "big.txt").write_bytes(BIG_NEW.replace(b"\n", b"\r\n")[:7001])
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert rev(app, "main") == new
    assert (app / "big.txt").read_bytes() == BIG_NEW.replace(b"\n", b"\r\n")
    assert git(app, "status", "--porcelain") == ""
