"""File renames as git detects them, made in the trees a replay's merge is given.

When one side of a replayed commit's merge changed a file and the other side deleted
it, the change survives only if the deletion was a rename: the merge then carries
the change to the file's new path. libgit2 and git find renames differently. libgit2
measures similarity its own way (and not at all for very small files), and looks
for renames of every file; git (diffcore-rename, as merge-ort runs it) looks only
for the files that matter, those deleted on one side and changed or deleted on the
other, and pairs them with added files by exact content first, then by the same
name in another directory when they are 75% alike, then by the most alike pairs
from 50%, where "alike" is the share of the larger file made of the other's lines
(diffcore-delta: spans of up to 64 bytes ending at a newline, the CR of a CRLF
ignored in text).

So the replay finds the renames git would, and makes them in the trees before
merging them without libgit2's rename detection: the merge then merges the file's
three versions at its new path, as git does, and a rename nobody else touched stays
that side's plain change. git's own rename conflicts are conflicts here:
rename/delete, rename/rename to two paths, a rename against a type change, and a
rename onto a path the other side added too.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus, DiffOption, FileMode

__all__ = ["MAX_SCORE", "Merge", "renames_applied", "renames_as_git", "similarity"]

MAX_SCORE = 60000  # git's scale: 100%
MINIMUM = MAX_SCORE // 2  # 50%, merge-ort's default rename score
BASENAME_MINIMUM = MINIMUM + (MAX_SCORE - MINIMUM) // 2  # 75%, for same-name pairs
_CANDIDATES_PER_DESTINATION = 4
_HASHBASE = 107927
_REGULAR = {int(FileMode.BLOB), int(FileMode.BLOB_EXECUTABLE)}
_MASK = 0xFFFFFFFF

Side = dict[str, pygit2.DiffFile]  # path -> the file on the side that has it
Entry = tuple[pygit2.Oid, int] | None  # a path's content and mode, or nothing there


@dataclass(frozen=True)
class Merge:
    """The three trees to merge, without rename detection, with git's renames made
    in them; or the file, and why, where git's renames conflict."""

    base: pygit2.Tree
    tip: pygit2.Tree
    commit: pygit2.Tree
    conflict: tuple[str, str] | None = None


def renames_applied(
    repo: pygit2.Repository, base: pygit2.Tree, tip: pygit2.Tree, commit: pygit2.Tree
) -> Merge:
    """The merge of replaying ``base`` -> ``commit`` onto ``tip``, with git's renames.

    The files that matter are found from the commit's own change, which is small:
    files it changed or deleted that the upstream no longer has, and files it
    deleted that the upstream changed or deleted."""
    changed = [d.old_file.path for d in base.diff_to_tree(commit).deltas if d.old_file.mode]
    up_gone = {p for p in changed if not _is_file(tip, p)}
    local_gone = {
        p for p in changed if not _is_file(commit, p) and _entry(tip, p) != _entry(base, p)
    }
    unchanged = Merge(base, tip, commit)
    if not up_gone and not local_gone:
        return unchanged
    up = renames_as_git(repo, base, tip, up_gone, other=commit)
    local = renames_as_git(repo, base, commit, local_gone, other=tip)
    moves = _Moves(repo, base, tip, commit)
    for path in sorted(up_gone | local_gone):
        why = moves.follow(
            path, up.get(path), local.get(path), (path in up_gone, path in local_gone)
        )
        if why is not None:
            return Merge(base, tip, commit, conflict=(path, f"rename detection: {why}"))
    return moves.merge()


class _Moves:
    """The renames to make in each tree: old path -> new path."""

    def __init__(
        self, repo: pygit2.Repository, base: pygit2.Tree, tip: pygit2.Tree, commit: pygit2.Tree
    ) -> None:
        self.repo, self.base, self.tip, self.commit = repo, base, tip, commit
        self.in_base: dict[str, str] = {}
        self.in_tip: dict[str, str] = {}
        self.in_commit: dict[str, str] = {}

    def follow(
        self, path: str, up: str | None, local: str | None, gone: tuple[bool, bool]
    ) -> str | None:
        """Plan git's handling of ``path``, renamed to ``up`` upstream and to ``local``
        by the commit (None: not renamed, or not deleted on that side); or say why git
        conflicts over it."""
        if gone == (True, True):
            if up != local:
                return _rename_conflict(up, local)
            if up is not None:
                self.in_base[path] = up  # renamed alike on both sides
            return None
        target = up if gone[0] else local
        if target is None:
            return None  # a modify/delete conflict, which the merge reports itself
        other = self.commit if gone[0] else self.tip
        if _kind(self.base, path) != _kind(other, path):
            return f"renamed to {target} on one side, its type changed on the other (git: CONFLICT)"
        if _entry(other, target) is not None:
            return f"renamed to {target}, which the other side added too (git: CONFLICT)"
        self.in_base[path] = target
        (self.in_commit if gone[0] else self.in_tip)[path] = target
        return None

    def merge(self) -> Merge:
        return Merge(
            _moved(self.repo, self.base, self.in_base),
            _moved(self.repo, self.tip, self.in_tip),
            _moved(self.repo, self.commit, self.in_commit),
        )


def _rename_conflict(up: str | None, local: str | None) -> str:
    if up is None or local is None:
        return (
            f"renamed to {up or local} on one side, deleted on the other "
            "(git: CONFLICT (rename/delete))"
        )
    return f"renamed to {up} and to {local} (git: CONFLICT (rename/rename))"


def _moved(repo: pygit2.Repository, tree: pygit2.Tree, moves: dict[str, str]) -> pygit2.Tree:
    """``tree`` with the files at each old path moved to its new one."""
    if not moves:
        return tree
    index = pygit2.Index()
    index.read_tree(tree)
    for old, new in moves.items():
        entry = index[old]
        index.remove(old)
        index.add(pygit2.IndexEntry(new, entry.id, entry.mode))
    moved = repo[index.write_tree(repo)]
    assert isinstance(moved, pygit2.Tree)
    return moved


def renames_as_git(
    repo: pygit2.Repository,
    base: pygit2.Tree,
    side: pygit2.Tree,
    relevant: Collection[str],
    *,
    other: pygit2.Tree,
) -> dict[str, str]:
    """Where git finds that ``side`` renamed the ``relevant`` files it deleted (the
    others take part in exact renames only, as in merge-ort), ``other`` being the
    merge's other side."""
    if not relevant:
        return {}
    diff = base.diff_to_tree(side, flags=DiffOption.INCLUDE_TYPECHANGE)
    deleted = {d.old_file.path: d.old_file for d in diff.deltas if d.status == DeltaStatus.DELETED}
    added = {d.new_file.path: d.new_file for d in diff.deltas if d.status == DeltaStatus.ADDED}
    order = sorted(added, key=lambda path: (_in_new_directory(path, base, other), path))
    return _GitRenames(repo, deleted, {p: added[p] for p in order}, set(relevant)).pairs()


def _in_new_directory(path: str, base: pygit2.Tree, other: pygit2.Tree) -> bool:
    """Whether ``path`` lies in a directory that neither the base nor the other side
    has: merge-ort walks those last, so their files come last as destinations of
    exact renames, whose ties go to the first destination."""
    directory = posixpath.dirname(path)
    while directory:
        if not _is_tree(base, directory) and not _is_tree(other, directory):
            return True
        directory = posixpath.dirname(directory)
    return False


@dataclass
class _Candidate:
    score: int
    same_name: int
    source: str
    destination: str


class _GitRenames:
    """git's pairing of deleted and added files on one side (merge-ort's options:
    no empty files, inexact renames only for the sources that matter)."""

    def __init__(
        self, repo: pygit2.Repository, deleted: Side, added: Side, relevant: set[str]
    ) -> None:
        self.repo = repo
        self.sources = {p: f for p, f in deleted.items() if not _empty(f)}
        self.destinations = {p: f for p, f in added.items() if not _empty(f)}
        self.relevant = relevant
        self.found: dict[str, str] = {}
        self.ambiguous: set[str] = set()

    def pairs(self) -> dict[str, str]:
        """Source -> destination; a source whose pairing git leaves to chance maps to
        a name no file has, so that it never agrees with anything."""
        self._exact()
        self._same_names()
        self._most_alike()
        return {**self.found, **dict.fromkeys(self.ambiguous, "(ambiguous)")}

    def _free_sources(self) -> list[str]:
        used = set(self.found)
        return sorted(p for p in self.sources if p not in used and p in self.relevant)

    def _free_destinations(self) -> list[str]:
        used = set(self.found.values())
        return sorted(p for p in self.destinations if p not in used)

    def _exact(self) -> None:
        """Identical content: per destination, in merge-ort's order, the first unused
        source, one with the same file name first."""
        for destination, target in self.destinations.items():
            same = [
                p
                for p, f in sorted(self.sources.items())
                if f.id == target.id and p not in self.found and _modes_fit(f.mode, target.mode)
            ]
            if same:
                named = [p for p in same if _same_name(p, destination)]
                self.found[(named or same)[0]] = destination

    def _same_names(self) -> None:
        """A file whose name is unique among the free sources and destinations, paired
        with the one of the same name when they are 75% alike."""
        sources, destinations = self._free_sources(), self._free_destinations()
        source_names = Counter(posixpath.basename(p) for p in sources)
        destination_names = {posixpath.basename(p): p for p in destinations}
        destination_counts = Counter(posixpath.basename(p) for p in destinations)
        for source in sources:
            name = posixpath.basename(source)
            if source_names[name] != 1 or destination_counts[name] != 1:
                continue
            destination = destination_names[name]
            if self._score(source, destination) >= BASENAME_MINIMUM:
                self.found[source] = destination

    def _most_alike(self) -> None:
        """The best pairs from 50%, best first, each file used once; equal candidates
        competing for a file make its pairing git's chance."""
        candidates = self._candidates()
        taken_sources: set[str] = set()
        taken_destinations: set[str] = set()
        for candidate in candidates:
            if candidate.source in taken_sources or candidate.destination in taken_destinations:
                continue
            rivals = [
                c
                for c in candidates
                if c is not candidate
                and (c.score, c.same_name) == (candidate.score, candidate.same_name)
                and (c.source == candidate.source or c.destination == candidate.destination)
            ]
            if rivals:
                self.ambiguous.update({candidate.source, *(c.source for c in rivals)})
            self.found[candidate.source] = candidate.destination
            taken_sources.add(candidate.source)
            taken_destinations.add(candidate.destination)

    def _candidates(self) -> list[_Candidate]:
        sources = self._free_sources()
        found: list[_Candidate] = []
        for destination in self._free_destinations():
            scored = [
                _Candidate(score, _same_name(source, destination), source, destination)
                for source in sources
                if (score := self._score(source, destination)) >= MINIMUM
            ]
            scored.sort(key=lambda c: (-c.score, -c.same_name))
            found.extend(scored[:_CANDIDATES_PER_DESTINATION])
        found.sort(key=lambda c: (-c.score, -c.same_name))
        return found

    def _score(self, source: str, destination: str) -> int:
        one, two = self.sources[source], self.destinations[destination]
        if one.mode not in _REGULAR or two.mode not in _REGULAR:
            return 0
        if not _sizes_fit(self._size(one), self._size(two)):
            return 0
        return similarity(self._data(one), self._data(two))

    def _size(self, file: pygit2.DiffFile) -> int:
        return int(self.repo.odb.read_header(file.id)[1])

    def _data(self, file: pygit2.DiffFile) -> bytes:
        blob = self.repo[file.id]
        assert isinstance(blob, pygit2.Blob)
        return blob.data


def similarity(source: bytes, destination: bytes) -> int:
    """git's estimate of how much of ``destination`` comes from ``source``, from 0 to
    ``MAX_SCORE`` (diffcore-delta's span hashes, over the larger size)."""
    larger = max(len(source), len(destination))
    if not destination or not _sizes_fit(len(source), len(destination)):
        return 0
    mine, theirs = _spans(source), _spans(destination)
    copied = sum(min(count, theirs[h]) for h, count in mine.items() if h in theirs)
    return copied * MAX_SCORE // larger


def _spans(data: bytes) -> Counter[int]:
    """Bytes per span hash: spans end at a newline or after 64 bytes."""
    text = b"\0" not in data[:8000]
    counts: Counter[int] = Counter()
    accum1 = accum2 = n = 0
    size = len(data)
    for i, c in enumerate(data):
        if text and c == 13 and i + 1 < size and data[i + 1] == 10:
            continue  # the CR of a CRLF
        old1 = accum1
        accum1 = (((accum1 << 7) & _MASK) ^ (accum2 >> 25)) + c
        accum1 &= _MASK
        accum2 = ((accum2 << 7) & _MASK) ^ (old1 >> 25)
        n += 1
        if n < 64 and c != 10:
            continue
        counts[((accum1 + accum2 * 0x61) & _MASK) % _HASHBASE] += n
        accum1 = accum2 = n = 0
    if n:
        counts[((accum1 + accum2 * 0x61) & _MASK) % _HASHBASE] += n
    return counts


def _sizes_fit(one: int, two: int) -> bool:
    """git skips pairs whose sizes differ by more than half the larger one."""
    larger, smaller = max(one, two), min(one, two)
    return larger * (MAX_SCORE - MINIMUM) >= (larger - smaller) * MAX_SCORE


def _modes_fit(one: int, two: int) -> bool:
    """Identical content pairs regular files with regular files, others by mode."""
    return (one in _REGULAR and two in _REGULAR) or one == two


def _same_name(one: str, two: str) -> int:
    return int(posixpath.basename(one) == posixpath.basename(two))


def _empty(file: pygit2.DiffFile) -> bool:
    return str(file.id) == _EMPTY_BLOB


_EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def _entry(tree: pygit2.Tree, path: str) -> tuple[pygit2.Oid, int] | None:
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj.id, int(obj.filemode)


def _kind(tree: pygit2.Tree, path: str) -> str:
    """What is at ``path``: a regular file, a symlink, a submodule, a tree or nothing."""
    entry = _entry(tree, path)
    if entry is None:
        return "none"
    mode = entry[1]
    return "file" if mode in _REGULAR else str(mode)


def _is_tree(tree: pygit2.Tree, path: str) -> bool:
    try:
        return isinstance(tree[path], pygit2.Tree)
    except KeyError:
        return False


def _is_file(tree: pygit2.Tree, path: str) -> bool:
    try:
        return not isinstance(tree[path], pygit2.Tree)
    except KeyError:
        return False
