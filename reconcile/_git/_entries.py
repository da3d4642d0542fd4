"""Index entries with their stat data, past pygit2's API.

pygit2's ``IndexEntry`` carries a path, an object id and a mode only: an entry
added through it has no stat data, so every later status must hash the file
again. The staging of a commit needs git's own behaviour instead: the entry holds
the stat data of the file as it was *before* its content was read (so a change
made after the read shows as a change), and an entry whose file changed too
recently to trust its timestamp is "smudged" (size 0), which makes git and
libgit2 compare the content next time (git's racy-git rule). Both need
``git_index_add`` with a full ``git_index_entry``, called here through pygit2's
cffi bindings.
"""

from __future__ import annotations

import os

import pygit2
from pygit2.errors import check_error
from pygit2.ffi import C, ffi

__all__ = ["SKIP_WORKTREE", "add_entry", "entry_flags_extended"]

SKIP_WORKTREE = 1 << 14  # GIT_INDEX_ENTRY_SKIP_WORKTREE: sparse checkout leaves the file out
_U32 = 0xFFFFFFFF


def add_entry(
    index: pygit2.Index,
    path: str,
    oid: pygit2.Oid,
    mode: int,
    stat: os.stat_result,
    *,
    smudge: bool,
) -> None:
    """Add (or replace) ``path`` in ``index`` as ``oid`` with ``mode``, recording
    ``stat`` as git does (32-bit fields truncated); with ``smudge``, the size is
    recorded as 0 so the content is compared again on the next status."""
    entry = ffi.new("git_index_entry *")
    entry.ctime.seconds = stat.st_ctime_ns // 1_000_000_000
    entry.ctime.nanoseconds = stat.st_ctime_ns % 1_000_000_000
    entry.mtime.seconds = stat.st_mtime_ns // 1_000_000_000
    entry.mtime.nanoseconds = stat.st_mtime_ns % 1_000_000_000
    entry.dev = stat.st_dev & _U32
    entry.ino = stat.st_ino & _U32
    entry.mode = mode
    entry.uid = stat.st_uid & _U32
    entry.gid = stat.st_gid & _U32
    entry.file_size = 0 if smudge else stat.st_size & _U32
    ffi.buffer(ffi.addressof(entry, "id"))[:] = oid.raw
    name = ffi.new("char[]", os.fsencode(path))
    entry.path = name
    check_error(C.git_index_add(index._index, entry))


def entry_flags_extended(index: pygit2.Index, path: str) -> int | None:
    """The extended flags of ``path``'s stage-0 entry, or None when it has none."""
    entry = C.git_index_get_bypath(index._index, os.fsencode(path), 0)
    return None if entry == ffi.NULL else int(entry.flags_extended)
