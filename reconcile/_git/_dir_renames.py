"""Directory renames: a file added into a directory the other side renamed.

When one side of a replayed commit's merge renamed a directory (the directory is
gone on that side, and files of it reappear in another one) and the other side adds
a file into the old directory, git's merge (merge-ort, ``merge.directoryRenames``'s
default ``conflict``) reports ``CONFLICT (file location)``: the file perhaps belongs
in the new directory. The replay's merge knows only file renames and would leave the
file in the old directory, where an application that reads the new one never sees
it. So the replay checks each commit for this and conflicts as git does.

The rules are git's. For a commit replayed onto a tip, with its parent as the merge
base, either side may have renamed: the upstream (base to tip) or the commit itself
(base to commit). A directory counts as renamed on a side when it is gone there and
at least one of its files was renamed out of it (renames as git finds them, see
``_renames``), the part of the path below it kept
(``a/b/x -> c/b/x`` renames ``a/b`` to ``c/b`` and ``a`` to ``c``); where its files
went to several directories, the one that received the most wins, and a tie is git's
``CONFLICT (directory rename split)``. A file the other side added (or renamed) to a
path inside such a directory is in conflict.

Two details are stricter than merge-ort, in the direction of conflicting: a file
added into a new subdirectory of a renamed directory conflicts too (merge-ort leaves
it behind without a word there, merge-recursive conflicts), and so does a rename
merge-ort skips because its target directory was itself renamed on the other side.
A conflict here is an escape, which loses nothing; a file left where no reader looks
is what must not happen.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus, DiffOption

from ._renames import renames_as_git

__all__ = ["DirRename", "directory_rename"]


@dataclass(frozen=True)
class DirRename:
    """A file added inside a directory that the other side renamed."""

    path: str  # the file added at its old location
    old_dir: str  # the directory the other side renamed
    new_dir: str | None  # where it went; None when its files went to several equally
    by_upstream: bool  # True: the upstream renamed it; False: the replayed commit did

    def describe(self) -> str:
        """The conflict in a sentence, as git words it."""
        renamer, adder = (
            ("upstream", "a local commit")
            if self.by_upstream
            else (
                "a local commit",
                "upstream",
            )
        )
        where = (
            f"renamed {self.old_dir}/ to {self.new_dir or '.'}/"
            if self.new_dir is not None
            else f"split {self.old_dir}/ between several directories"
        )
        return (
            f"directory rename: {renamer} {where}, and {adder} adds {self.path} "
            "in the old directory (git: CONFLICT (file location))"
        )


def directory_rename(
    repo: pygit2.Repository, base: pygit2.Tree, tip: pygit2.Tree, commit: pygit2.Tree
) -> DirRename | None:
    """The directory-rename conflict of replaying the change ``base`` -> ``commit``
    onto ``tip``, or None.

    Everything starts from the commit's own change, which is small: the files it adds
    (the upstream may have renamed their directory), and the files it deletes (it may
    have renamed their directory itself, and the upstream added files into it)."""
    change = base.diff_to_tree(commit, flags=DiffOption.INCLUDE_TYPECHANGE)
    added = sorted(_paths(change.deltas, DeltaStatus.ADDED))
    up_removed = _Removed(base, tip)
    into = [path for path in added if any(up_removed(d) for d in _ancestors(path))]
    if into:
        found = _conflict(repo, base, up_removed, into, renamer=tip, adder=commit)
        if found is not None:
            return found
    local_removed = _Removed(base, commit)
    deleted = _paths(change.deltas, DeltaStatus.DELETED)
    gone = _outermost({d for path in deleted for d in _ancestors(path) if local_removed(d)})
    into = sorted(_added_inside(base, tip, gone))
    if into:
        found = _conflict(repo, base, local_removed, into, renamer=commit, adder=tip)
        if found is not None:
            return DirRename(found.path, found.old_dir, found.new_dir, by_upstream=False)
    return None


def _conflict(
    repo: pygit2.Repository,
    base: pygit2.Tree,
    removed: _Removed,
    added: list[str],
    *,
    renamer: pygit2.Tree,
    adder: pygit2.Tree,
) -> DirRename | None:
    """The first of ``added`` (files the other side added inside directories that
    ``renamer`` removed) that lies in a directory ``renamer`` renamed."""
    counts = _rename_counts(repo, base, removed, renamer=renamer, adder=adder)
    for path in added:
        for directory in _ancestors(path):  # deepest first, as git looks them up
            if directory in counts.all:
                return DirRename(path, directory, _winner(counts.all[directory]), True)
        split = _split_below(posixpath.dirname(path), counts.direct)
        if split is not None:
            return DirRename(path, split, None, True)
    return None


class _Removed:
    """Which directories of ``base`` are gone in ``side`` (no longer a directory there)."""

    def __init__(self, base: pygit2.Tree, side: pygit2.Tree) -> None:
        self.base, self.side = base, side
        self.known: dict[str, bool] = {}

    def __call__(self, directory: str) -> bool:
        gone = self.known.get(directory)
        if gone is None:
            gone = _is_tree(self.base, directory) and not _is_tree(self.side, directory)
            self.known[directory] = gone
        return gone


def _paths(deltas: Iterable[pygit2.DiffDelta], status: DeltaStatus) -> Iterator[str]:
    for delta in deltas:
        if delta.status == status:
            yield delta.new_file.path if status == DeltaStatus.ADDED else delta.old_file.path


def _outermost(directories: set[str]) -> list[str]:
    """``directories`` without those inside another of them."""
    return sorted(d for d in directories if not any(a in directories for a in _ancestors(d)))


def _added_inside(base: pygit2.Tree, side: pygit2.Tree, directories: list[str]) -> Iterator[str]:
    """Files that ``side`` added inside ``directories`` (each one a directory of
    ``base``), each directory diffed alone."""
    for directory in directories:
        old, new = base[directory], _tree_at(side, directory)
        if new is None or not isinstance(old, pygit2.Tree) or new.id == old.id:
            continue
        for delta in old.diff_to_tree(new, flags=DiffOption.INCLUDE_TYPECHANGE).deltas:
            if delta.status == DeltaStatus.ADDED:
                yield f"{directory}/{delta.new_file.path}"


@dataclass
class _Counts:
    """Where each removed directory's files went: through git's walk up the path
    (``all``), and for its own files only (``direct``)."""

    all: dict[str, Counter[str]]
    direct: dict[str, Counter[str]]


def _rename_counts(
    repo: pygit2.Repository,
    base: pygit2.Tree,
    removed: _Removed,
    *,
    renamer: pygit2.Tree,
    adder: pygit2.Tree,
) -> _Counts:
    """Where the files of the removed directories went, by git's rename detection
    (those files being the ones it looks for)."""
    deleted = [
        d.old_file.path
        for d in base.diff_to_tree(renamer).deltas
        if d.status == DeltaStatus.DELETED and any(removed(a) for a in _ancestors(d.old_file.path))
    ]
    counts = _Counts({}, {})
    for old, new in sorted(renames_as_git(repo, base, renamer, deleted, other=adder).items()):
        _count(counts, old, new, removed)
    return counts


def _count(counts: _Counts, old: str, new: str, removed: _Removed) -> None:
    """git's walk: ``a/b/c/x -> d/e/c/x`` moves ``a/b/c`` to ``d/e/c`` and ``a/b``
    to ``d/e``, and stops where the parts below stop matching."""
    old_dir, new_dir = posixpath.dirname(old), posixpath.dirname(new)
    first = True
    while old_dir and removed(old_dir):
        counts.all.setdefault(old_dir, Counter())[new_dir] += 1
        if first:
            counts.direct.setdefault(old_dir, Counter())[new_dir] += 1
        first = False
        if not new_dir:
            return
        (old_dir, old_name), (new_dir, new_name) = (
            posixpath.split(old_dir),
            posixpath.split(new_dir),
        )
        if old_name != new_name:
            return


def _winner(targets: Counter[str]) -> str | None:
    """The directory that received the most files, or None on a tie (a split)."""
    ranked = targets.most_common(2)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def _split_below(directory: str, direct: dict[str, Counter[str]]) -> str | None:
    """A removed directory inside ``directory`` whose own files went to several
    directories equally: git's split conflict, which a file added next to it causes."""
    prefix = f"{directory}/"
    for old_dir in sorted(direct):
        if old_dir.startswith(prefix) and _winner(direct[old_dir]) is None:
            return old_dir
    return None


def _ancestors(path: str) -> Iterator[str]:
    directory = posixpath.dirname(path)
    while directory:
        yield directory
        directory = posixpath.dirname(directory)


def _tree_at(tree: pygit2.Tree, path: str) -> pygit2.Tree | None:
    try:
        found = tree[path]
    except KeyError:
        return None
    return found if isinstance(found, pygit2.Tree) else None


def _is_tree(tree: pygit2.Tree, path: str) -> bool:
    return _tree_at(tree, path) is not None
