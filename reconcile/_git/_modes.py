"""Modes merged apart from contents, as git merges them.

git merges a file's mode and its content separately: a mode changed on one side and
the content on the other merge cleanly. libgit2 does so for text, but reports a
conflict for a binary file, whose content it cannot merge at all. This resolves
exactly those conflicts, and no other.
"""

from __future__ import annotations

from typing import TypeVar

import pygit2
from pygit2.enums import FileMode

__all__ = ["merge_modes_apart"]

_REGULAR = {FileMode.BLOB, FileMode.BLOB_EXECUTABLE}
_T = TypeVar("_T")


def merge_modes_apart(index: pygit2.Index) -> None:
    """Resolve the conflicts git would not have: a regular file whose mode changed on
    one side and whose content changed on the other (or both sides changed the mode
    alike), which libgit2 cannot merge when the file is binary. git merges mode and
    content separately; every other conflict is left as it is."""
    if index.conflicts is None:
        return
    resolved: list[pygit2.IndexEntry] = []
    for ancestor, ours, theirs in index.conflicts:
        merged = _apart(ancestor, ours, theirs)
        if merged is not None:
            resolved.append(merged)
    for entry in resolved:
        del index.conflicts[entry.path]
        index.add(entry)


def _apart(
    ancestor: pygit2.IndexEntry | None,
    ours: pygit2.IndexEntry | None,
    theirs: pygit2.IndexEntry | None,
) -> pygit2.IndexEntry | None:
    """The entry git's separate merges of content and mode give when each of them is
    trivial (one side kept the ancestor's), or None when this is another conflict."""
    if ancestor is None or ours is None or theirs is None:
        return None
    if not ancestor.path == ours.path == theirs.path:
        return None  # a rename is involved
    if not {ancestor.mode, ours.mode, theirs.mode} <= _REGULAR:
        return None
    content = _trivial(ancestor.id, ours.id, theirs.id)
    mode = _trivial(ancestor.mode, ours.mode, theirs.mode)
    if content is None or mode is None:
        return None
    return pygit2.IndexEntry(ancestor.path, content, mode)


def _trivial(ancestor: _T, ours: _T, theirs: _T) -> _T | None:
    """The side that changed, when at most one did (or both alike); else None."""
    if ours in (theirs, ancestor):
        return theirs
    if theirs == ancestor:
        return ours
    return None
