"""The cheap change check: has anything in a repository been written since a time?

Modification times are compared with the last cycle's watermark: every file and
folder of the working tree (a file written, created, renamed or deleted changes its
own time or its folder's), and the git directory's ``HEAD``, ``index``,
``packed-refs`` and ``refs/heads``. Nothing is read but directory entries and their
stat data, and the walk stops at the first change. The ``.git`` directory, nested
repositories and submodules (a ``.git`` entry), and folders matching the fleet's
``exclude`` globs are not walked. A time up to ``SLACK`` seconds before the
watermark counts as a change: file systems stamp times with a clock a little behind
the one the watermark is read from, and a false change only costs a full status.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ._discover import excluded

__all__ = ["SLACK", "changed_since"]

SLACK = 1.0  # seconds
_GIT_FILES = ("HEAD", "index", "packed-refs")


def changed_since(workdir: Path, watermark: float, exclude: Iterable[str]) -> bool:
    """True when something in the repository at ``workdir`` may have changed at or after
    ``watermark`` (a Unix time)."""
    since = int((watermark - SLACK) * 1e9)
    gitdir = os.path.join(workdir, ".git")
    for name in _GIT_FILES:
        if _newer(os.path.join(gitdir, name), since):
            return True
    if _tree_newer(os.path.join(gitdir, "refs", "heads"), since, ()):
        return True
    return _tree_newer(str(workdir), since, tuple(exclude))


def _newer(path: str, since: int) -> bool:
    try:
        return os.lstat(path).st_mtime_ns >= since
    except OSError:
        return False


def _tree_newer(top: str, since: int, globs: tuple[str, ...]) -> bool:
    """Whether ``top``, or a file or folder below it, was modified at or after ``since``."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            if os.lstat(folder).st_mtime_ns >= since:
                return True
            with os.scandir(folder) as entries:
                for entry in entries:
                    if _entry_newer(entry, since, globs, stack):
                        return True
        except OSError:  # gone meanwhile: a change the full status will see
            return True
    return False


def _entry_newer(
    entry: os.DirEntry[str], since: int, globs: tuple[str, ...], stack: list[str]
) -> bool:
    if entry.name == ".git":
        return False
    if entry.is_dir(follow_symlinks=False):
        if excluded(entry.name, entry.path, globs):
            return False
        if os.path.lexists(os.path.join(entry.path, ".git")):
            return False  # a nested repository or a submodule: not this one's to commit
        stack.append(entry.path)
        return False
    return entry.stat(follow_symlinks=False).st_mtime_ns >= since
