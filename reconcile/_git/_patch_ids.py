"""Patch ids: which local commits' changes are already upstream, decided as git rebase does.

``git rebase`` (without ``--reapply-cherry-picks``) drops a local commit whose patch
id equals that of an upstream commit since the merge base: the change is already
there, and the upstream may have built on it since (replaying it would then
conflict) or taken it back (replaying it would undo that). A patch id hashes, file
by file, the paths, the modes and the
diff's lines with three lines of context and no line numbers, so the same change
made at another point of history matches; merges have none, and a commit that was
empty to begin with is never dropped this way.

git folds whitespace out of every line before hashing (``git patch-id``), so it also
drops a commit whose change differs from upstream's only in whitespace. In a data
repository whitespace is data, so here a patch matches only byte for byte
(``exact=True``): such a commit is replayed instead, and conflicts or applies rather
than vanishes. With ``exact=False`` the id is the one git's rebase computes (for a
text change, ``git patch-id --stable`` of the same diff, which the tests compare).

Computing an id costs a diff; on a long upstream most commits are never diffed.
They are screened first, by tree lookups alone, for whether they touch any path a
local commit touches (the directories' tree ids first), and an id is computed only
for an upstream commit that touches exactly the paths of some local commit.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pygit2
from pygit2.enums import DiffOption

from ._repo import empty_tree

__all__ = ["already_upstream", "patch_id"]

_BINARY_CHECK = 8000  # git and libgit2 look for a NUL in the first 8000 bytes
_SPACE = re.compile(rb"\s+")
_NO_FOLD: Callable[[bytes], bytes] = bytes
_CONTEXT = {" ", "+", "-"}
_EOF_NEWLINE = {"=", ">", "<"}  # libgit2's "\ No newline at end of file" markers


def _fold(data: bytes) -> bytes:
    return _SPACE.sub(b"", data)


def patch_id(repo: pygit2.Repository, commit: pygit2.Commit, *, exact: bool = True) -> bytes | None:
    """The patch id of ``commit`` against its parent (the empty tree for a root
    commit), or None for a merge, which has none. ``exact=False`` gives git's."""
    if len(commit.parents) > 1:
        return None
    base = commit.parents[0].tree if commit.parents else empty_tree(repo)
    return _tree_patch_id(repo, base, commit.tree, exact=exact)


def _tree_patch_id(
    repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree, *, exact: bool
) -> bytes:
    """git's "stable" patch id of the change from ``old`` to ``new``: per file a
    SHA-1, the files' digests added up as 160-bit numbers, so their order is free."""
    total = 0
    for delta in old.diff_to_tree(new, flags=DiffOption.INCLUDE_TYPECHANGE).deltas:
        digest = _file_digest(repo, delta, _NO_FOLD if exact else _fold)
        total += int.from_bytes(digest, "little")
    return (total % (1 << 160)).to_bytes(20, "little")


def _file_digest(
    repo: pygit2.Repository, delta: pygit2.DiffDelta, fold: Callable[[bytes], bytes]
) -> bytes:
    """One file's share of the patch id, hashed as git's ``diff_get_patch_id`` does."""
    old, new = delta.old_file, delta.new_file
    old_path, new_path = fold(old.raw_path), fold(new.raw_path)
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"diff--gita/" + old_path + b"b/" + new_path)
    h.update(_mode_header(old.mode, new.mode))
    old_blob, new_blob = _blob(repo, old), _blob(repo, new)
    if old_blob is None or new_blob is None or _binary(old_blob) or _binary(new_blob):
        # Binary (or a submodule): the two blob ids, in full.
        h.update(str(old.id).encode() + str(new.id).encode())
        return h.digest()
    h.update(b"---/dev/null" if not old.mode else b"---a/" + old_path)
    h.update(b"+++/dev/null" if not new.mode else b"+++b/" + new_path)
    _hash_lines(h, old_blob, new_blob, fold)
    return h.digest()


def _mode_header(old_mode: int, new_mode: int) -> bytes:
    if not old_mode:
        return b"newfilemode%06o" % new_mode
    if not new_mode:
        return b"deletedfilemode%06o" % old_mode
    if old_mode != new_mode:
        return b"oldmode%06onewmode%06o" % (old_mode, new_mode)
    return b""


def _blob(repo: pygit2.Repository, side: pygit2.DiffFile) -> bytes | None:
    """A side's content: empty when the file is absent on that side, None when it is
    not a blob (a submodule's commit)."""
    if not side.mode:
        return b""
    obj = repo.get(side.id)
    return obj.data if isinstance(obj, pygit2.Blob) else None


def _binary(data: bytes) -> bool:
    return b"\0" in data[:_BINARY_CHECK]


def _hash_lines(h: hashlib._Hash, old: bytes, new: bytes, fold: Callable[[bytes], bytes]) -> None:
    """The diff's lines, each with its ``' '``/``'+'``/``'-'`` prefix, three lines of
    context, no hunk headers. An exact id keeps the end-of-file newline markers too."""
    patch = pygit2.Patch.create_from(
        old, new, flag=DiffOption.FORCE_TEXT, context_lines=3, interhunk_lines=0
    )
    exact = fold is _NO_FOLD
    for hunk in patch.hunks:
        for line in hunk.lines:
            if line.origin in _CONTEXT or (exact and line.origin in _EOF_NEWLINE):
                h.update(fold(line.origin.encode() + line.raw_content))


# --- which local commits are already upstream ---------------------------------------


@dataclass
class _Local:
    """The local commits that may be dropped, grouped by the paths they touch."""

    by_paths: dict[frozenset[bytes], list[pygit2.Commit]] = field(default_factory=dict)
    ids: dict[pygit2.Oid, bytes] = field(default_factory=dict)

    def paths(self) -> set[bytes]:
        return {path for paths in self.by_paths for path in paths}


def already_upstream(
    repo: pygit2.Repository,
    local: Iterable[pygit2.Commit],
    upstream: Iterable[pygit2.Commit],
) -> set[pygit2.Oid]:
    """The ``local`` commits whose exact patch is also the patch of one of the
    ``upstream`` commits (those since the merge base). Merges and commits that were
    empty to begin with are never among them."""
    candidates = _candidates(local)
    if not candidates.by_paths:
        return set()
    screen = _Screen(sorted(candidates.paths()))
    found: set[pygit2.Oid] = set()
    for commit in upstream:
        if len(commit.parents) != 1 or not screen.touches(commit):
            continue
        same_paths = candidates.by_paths.get(_touched_paths(commit))
        if not same_paths:
            continue
        theirs = _tree_patch_id(repo, commit.parents[0].tree, commit.tree, exact=True)
        for mine in same_paths:
            if _local_id(repo, candidates, mine) == theirs:
                found.add(mine.id)
    return found


def _candidates(local: Iterable[pygit2.Commit]) -> _Local:
    candidates = _Local()
    for commit in local:
        if len(commit.parents) != 1:
            continue  # a merge (refused later) or a root commit: no upstream patch to match
        paths = _touched_paths(commit)
        if paths:  # an empty commit is never dropped
            candidates.by_paths.setdefault(paths, []).append(commit)
    return candidates


def _local_id(repo: pygit2.Repository, candidates: _Local, commit: pygit2.Commit) -> bytes:
    known = candidates.ids.get(commit.id)
    if known is None:
        known = _tree_patch_id(repo, commit.parents[0].tree, commit.tree, exact=True)
        candidates.ids[commit.id] = known
    return known


def _touched_paths(commit: pygit2.Commit) -> frozenset[bytes]:
    diff = commit.parents[0].tree.diff_to_tree(commit.tree)
    return frozenset(
        path for delta in diff.deltas for path in (delta.old_file.raw_path, delta.new_file.raw_path)
    )


class _Screen:
    """Whether a commit changes any of a set of paths, by tree lookups alone: the
    trees of the paths' directories first (a change below one changes its id, a mode
    change too), then the paths themselves where a directory did change."""

    def __init__(self, paths: list[bytes]) -> None:
        by_directory: dict[str, list[str]] = {}
        for raw in paths:
            path = raw.decode("utf-8", "surrogateescape")
            by_directory.setdefault(posixpath.dirname(path), []).append(path)
        self.by_directory = sorted(by_directory.items())

    def touches(self, commit: pygit2.Commit) -> bool:
        new, old = commit.tree, commit.parents[0].tree
        if new.id == old.id:
            return False
        for directory, paths in self.by_directory:
            if directory and _id(new, directory) == _id(old, directory):
                continue
            if any(_entry(new, path) != _entry(old, path) for path in paths):
                return True
        return False


def _id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None


def _entry(tree: pygit2.Tree, path: str) -> tuple[pygit2.Oid, int] | None:
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj.id, int(obj.filemode)
