"""File renames as git detects them, to check the merges of a replay that hinge on one.

When one side of a replayed commit's merge changed a file and the other side deleted
it, the change survives only if the deletion was a rename: the merge then carries
the change to the file's new path. libgit2 and git find renames differently. libgit2
measures similarity its own way (and not at all for very small files); git
(diffcore-rename, as merge-ort runs it) pairs files by exact content first, then
files with the same name in different directories when they are 75% alike, then the
most alike pairs from 50%, where "alike" is the share of the larger file made of the
other's lines (diffcore-delta: spans of up to 64 bytes ending at a newline, the CR
of a CRLF ignored in text). So the two can disagree: libgit2 merges the change into
the file it paired while git reports ``CONFLICT (modify/delete)``, or carries it to
another file, or the other way round.

So for each file that matters (deleted on one side, changed or deleted on the other)
the replay asks git's rule where the file went, and checks that libgit2's merge put
there what git's would: the three-way merge of the file's three versions, the old
path gone. Anything else is a conflict, as are git's own conflicts of renames
(``rename/delete``, ``rename/rename``, a rename against a type change). Files nobody
changed on the other side do not matter: a rename of them is just that side's
change, whoever detects it.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus, DiffOption, FileMode

from ._modes import merge_modes_apart

__all__ = ["MAX_SCORE", "rename_disagreement", "similarity"]

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
class _Pick:
    """One replayed commit's merge: the three trees, and libgit2's merged index."""

    repo: pygit2.Repository
    base: pygit2.Tree
    tip: pygit2.Tree
    commit: pygit2.Tree
    merged: pygit2.Index | None  # None: libgit2 conflicted


def rename_disagreement(
    repo: pygit2.Repository,
    base: pygit2.Tree,
    tip: pygit2.Tree,
    commit: pygit2.Tree,
    *,
    merged: pygit2.Index | None,
    among: Collection[str] | None = None,
) -> tuple[str, str] | None:
    """The file, and why, where git's renames make replaying ``base`` -> ``commit``
    onto ``tip`` come out otherwise than libgit2's ``merged`` index (``among`` those
    files only, when given); with ``merged`` None (libgit2 conflicted), the first of
    them that git finds renamed. None when they agree.

    The files that matter are found from the commit's own change, which is small:
    files it changed or deleted that the upstream no longer has, and files it
    deleted that the upstream changed or deleted."""
    changed = [d.old_file.path for d in base.diff_to_tree(commit).deltas if d.old_file.mode]
    if among is not None:
        changed = [path for path in changed if path in among]
    up_gone = {p for p in changed if not _is_file(tip, p)}
    local_gone = {
        p for p in changed if not _is_file(commit, p) and _entry(tip, p) != _entry(base, p)
    }
    if not up_gone and not local_gone:
        return None
    pick = _Pick(repo, base, tip, commit, merged)
    up = _renames(repo, base, tip, up_gone)
    local = _renames(repo, base, commit, local_gone)
    for path in sorted(up_gone | local_gone):
        why = _verdict(
            pick, path, up.get(path), local.get(path), (path in up_gone, path in local_gone)
        )
        if why is not None:
            return path, f"rename detection: {why}"
    return None


def _renames(
    repo: pygit2.Repository, base: pygit2.Tree, side: pygit2.Tree, relevant: set[str]
) -> dict[str, str]:
    """Where git finds ``side`` renamed the ``relevant`` files it deleted."""
    if not relevant:
        return {}
    diff = base.diff_to_tree(side, flags=DiffOption.INCLUDE_TYPECHANGE)
    deleted = {d.old_file.path: d.old_file for d in diff.deltas if d.status == DeltaStatus.DELETED}
    added = {d.new_file.path: d.new_file for d in diff.deltas if d.status == DeltaStatus.ADDED}
    return _GitRenames(repo, deleted, added, relevant).pairs()


def _verdict(
    pick: _Pick, path: str, up: str | None, local: str | None, gone: tuple[bool, bool]
) -> str | None:
    """What git makes of ``path``, where the upstream renamed it to ``up`` and the
    commit to ``local`` (None: not renamed, or not deleted on that side)."""
    found = up or local
    if pick.merged is None:
        return None if found is None else f"git finds it renamed to {found}, libgit2 does not"
    if gone == (True, True):
        if up != local:
            return _rename_conflict(up, local)
        if found is None:
            return None  # deleted on both sides
    elif found is None:
        return "changed on one side, deleted on the other (git: CONFLICT (modify/delete))"
    elif _type_changed(pick, path, upstream_renamed=gone[0]):
        return f"renamed to {found} on one side, its type changed on the other (git: CONFLICT)"
    return _merged_as_git(pick, path, found, upstream_renamed=gone[0], both=gone == (True, True))


def _rename_conflict(up: str | None, local: str | None) -> str:
    if up is None or local is None:
        return (
            f"renamed to {up or local} on one side, deleted on the other "
            "(git: CONFLICT (rename/delete))"
        )
    return f"renamed to {up} and to {local} (git: CONFLICT (rename/rename))"


def _type_changed(pick: _Pick, path: str, *, upstream_renamed: bool) -> bool:
    other = pick.commit if upstream_renamed else pick.tip
    return _kind(pick.base, path) != _kind(other, path)


def _merged_as_git(
    pick: _Pick, path: str, target: str, *, upstream_renamed: bool, both: bool
) -> str | None:
    """libgit2's merge has the old path gone and, at the new one, the three-way merge
    of the file's versions, as git's has."""
    assert pick.merged is not None
    old = _entry(pick.base, path)
    ours = _entry(pick.tip, target if upstream_renamed or both else path)
    theirs = _entry(pick.commit, path if upstream_renamed and not both else target)
    expected = _merge_one(pick.repo, old, ours, theirs)
    if expected is None:
        return f"renamed to {target}, and the versions conflict there (git: CONFLICT (content))"
    if _indexed(pick.merged, path) is None and _indexed(pick.merged, target) == expected:
        return None
    return f"git finds it renamed to {target}, libgit2 merged it otherwise"


def _merge_one(repo: pygit2.Repository, old: Entry, ours: Entry, theirs: Entry) -> Entry:
    """The three-way merge of one file's versions, as a replay merges it: None when
    they conflict."""
    index = repo.merge_trees(
        _one_file_tree(repo, old), _one_file_tree(repo, ours), _one_file_tree(repo, theirs)
    )
    merge_modes_apart(index)
    if index.conflicts is not None:
        return None
    return _indexed(index, "f")


def _one_file_tree(repo: pygit2.Repository, entry: Entry) -> pygit2.Tree:
    index = pygit2.Index()
    if entry is not None:
        index.add(pygit2.IndexEntry("f", entry[0], FileMode(entry[1])))
    tree = repo[index.write_tree(repo)]
    assert isinstance(tree, pygit2.Tree)
    return tree


def _indexed(index: pygit2.Index, path: str) -> Entry:
    try:
        entry = index[path]
    except KeyError:
        return None
    return entry.id, int(entry.mode)


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
        """Identical content: per destination, the first unused source, one with the
        same file name first."""
        for destination in sorted(self.destinations):
            target = self.destinations[destination]
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


def _is_file(tree: pygit2.Tree, path: str) -> bool:
    try:
        return not isinstance(tree[path], pygit2.Tree)
    except KeyError:
        return False
