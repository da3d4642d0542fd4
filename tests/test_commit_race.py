"""Commits made while the application keeps writing: no write is lost from git's view,
and with atomic writes no commit holds half a file."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pygit2
from commitutil import commit, status, write
from gitutil import World, git

from reconcile import Outcome

FILES = [f"hot/{n}.txt" for n in range(4)]
VERSION = re.compile(rb"\A\d{8}\n\Z")


def _writer(tree: Path, stop: threading.Event, *, atomic: bool) -> None:
    """Rewrite the files over and over with same-size versions (the case stat data
    cannot tell apart within one clock tick)."""
    n = 0
    while not stop.is_set():
        n += 1
        for name in FILES:
            data = f"{n:08d}\n".encode()
            if atomic:
                temp = tree / f"{name}.tmp"
                temp.write_bytes(data)
                os.replace(temp, tree / name)
            else:
                (tree / name).write_bytes(data)


def _committed_versions(tree: Path) -> list[bytes]:
    repo = pygit2.Repository(str(tree))
    found = []
    for commit_ in repo.walk(repo.head.target):
        for name in FILES:
            try:
                blob = commit_.tree[name]
            except KeyError:
                continue
            assert isinstance(blob, pygit2.Blob)
            found.append(blob.data)
    return found


def _race(world: World, *, atomic: bool) -> Path:
    app = world.clone("app")
    write(app, {".gitignore": "*.tmp\n"})
    write(app, dict.fromkeys(FILES, "00000000\n"))
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(app, stop), kwargs={"atomic": atomic})
    writer.start()
    try:
        for _ in range(15):
            result = commit(world.spec(app))
            assert result.outcome is Outcome.PUSHED_AHEAD or result.commit is None, result.reason
    finally:
        stop.set()
        writer.join()
    return app


def test_writes_during_commits_are_never_lost(path_world: World) -> None:
    """After commits made while a writer rewrote files in place, one more commit run
    leaves every file committed exactly as it is on disk and the tree clean: no write
    was hidden by stat data that looked unchanged."""
    app = _race(path_world, atomic=False)
    commit(path_world.spec(app))
    assert status(app) == ""
    for name in FILES:
        assert git(app, "cat-file", "blob", f"HEAD:{name}") + "\n" == (app / name).read_text()
    assert git(app, "rev-list", "--count", "HEAD") != "1"


def test_atomic_writes_are_committed_whole(path_world: World) -> None:
    """With writes made atomically (a temporary file, then a rename), every commit
    holds whole versions of every file."""
    app = _race(path_world, atomic=True)
    commit(path_world.spec(app))
    assert status(app) == ""
    versions = _committed_versions(app)
    assert versions
    assert all(VERSION.match(v) for v in versions), [v for v in versions if not VERSION.match(v)]
