"""File/directory conflicts as git reports them, and a guard that a merge kept every
file the replayed commit wrote.

Where one side of a replayed commit's merge has a file at a path and the other side
changed a directory of the same name (or the other way round), git reports
``CONFLICT (file/directory)``. libgit2 can instead merge such trees cleanly and drop
one side's file: the commit's new ``d`` gives way to the upstream's ``d/x``, and the
rebased commit loses it without a word. So the replay checks the commit's own
change (which is small) against the upstream's trees and conflicts as git does;
and, whatever libgit2 did, a merge that lost a file the commit added or changed is a
conflict too, never a rebase.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

import pygit2

__all__ = ["file_directory_conflict", "lost_file"]


def file_directory_conflict(
    base: pygit2.Tree, tip: pygit2.Tree, commit: pygit2.Tree
) -> tuple[str, str] | None:
    """The path, and why, where replaying ``base`` -> ``commit`` onto ``tip`` meets a
    file on one side and a changed directory on the other; None if it does not."""
    for path in _written(base, commit):
        theirs = _entry(tip, path)
        if theirs is not None and theirs[1] == _TREE and theirs != _entry(base, path):
            return path, "file/directory: the upstream changed a directory of that name"
        for directory in _ancestors(path):
            theirs = _entry(tip, directory)
            if theirs is not None and theirs[1] != _TREE and theirs != _entry(base, directory):
                return path, f"file/directory: the upstream changed the file {directory}"
    return None


def lost_file(base: pygit2.Tree, commit: pygit2.Tree, merged: pygit2.Index) -> str | None:
    """A file the commit added or changed that the merged index lacks, if any."""
    for path in _written(base, commit):
        if path not in merged:
            return path
    return None


_TREE = 0o040000


def _written(base: pygit2.Tree, commit: pygit2.Tree) -> Iterator[str]:
    """Paths where ``commit`` has a file that ``base`` did not have there."""
    for delta in base.diff_to_tree(commit).deltas:
        if delta.new_file.mode:
            yield delta.new_file.path


def _ancestors(path: str) -> Iterator[str]:
    directory = posixpath.dirname(path)
    while directory:
        yield directory
        directory = posixpath.dirname(directory)


def _entry(tree: pygit2.Tree, path: str) -> tuple[pygit2.Oid, int] | None:
    try:
        found = tree[path]
    except KeyError:
        return None
    return found.id, int(found.filemode)
