"""The paths of a move a crash cut short: whose each one is, and writing them new.

What libgit2 1.9's checkout (``checkout.c``) leaves, killed part way, at each path
that differs between the old and the new tree:

- it first removes what goes away (deleted files, files whose type or executable
  bit changes, symlinks it rewrites), so such a path may be missing;
- it then writes each new file in place (``open(O_CREAT|O_TRUNC)``, then the
  blob's filtered content), one after the other, so a file holds the old
  version, the new one, or a prefix of the new one (empty, or cut short); it
  never writes a part of the old version;
- symlinks come last and are made whole (``symlink()``);
- the index is written once, at the end, and atomically (``index.lock``, then a
  rename): every entry is old, or every entry is new.

So a path whose index entry is the old or the new one, and whose file is the old
version, the new one, a prefix of the new one, or missing, is the move's own (a
directory counts where either tree has one; a path below a file or symlink counts
as missing when that file is one of the move's paths). Anything else is a real
local change, and so is an untracked or ignored file in the way of the paths.

Writing them new is done here, not by a libgit2 checkout: its FORCE checkout over
a half-written tree mishandles type changes (meeting the new file ``e`` where the
old tree had ``e/x``, it removes ``e`` as a blocker of ``e/x`` and does not write it
again; with no directory left there, it skips ``e`` altogether). So each path
not new yet has its file removed (each is a version, or part of one, that git
holds) and the new one written as checkout writes it (filtered, with its mode);
then the index entries of the paths, and only those, are updated, with the stat
data of the files as a checkout records it; other local changes stay as they
are. A crash while writing leaves the same kind of state.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, FileStatus, FilterMode

from .._errors import GitError
from ._libgit2 import index_add_written
from ._move import Blockers, blockers_in, parent_dirs
from ._repo import GitRepo
from ._translate import translate

__all__ = ["CutShort"]

_Entry = tuple[str, int]  # a blob's id and mode, as a tree or the index holds it
_IN_WORKTREE = (
    FileStatus.WT_MODIFIED | FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE | FileStatus.WT_NEW
)


class CutShort:
    """The paths a move from ``old`` to ``new`` touches, in a working tree."""

    def __init__(
        self, repo: GitRepo, old: pygit2.Tree, new: pygit2.Tree, touched: tuple[str, ...]
    ) -> None:
        self.repo = repo
        self.old, self.new = old, new
        self.touched = touched
        self.touched_set = frozenset(touched)
        workdir = repo.workdir
        assert workdir is not None
        self.workdir = workdir
        self.filemode = _config_bool(repo, "core.filemode", default=True)
        self.done: set[str] = set()  # paths found exactly as the new tree has them
        self.was = {p: _blob(old, p) for p in touched}  # what each path was, and will be
        self.will = {p: _blob(new, p) for p in touched}
        repo.raw.index.read(True)
        self.index = repo.raw.index

    # --- whose is each path ------------------------------------------------------

    def foreign(self) -> Blockers:
        """The paths that are not the move's: changed ones, and untracked files in
        the way of the move's paths."""
        changed: list[str] = []
        untracked: list[str] = []
        for path in self.touched:
            if not (self._index_is_the_moves(path) and self._file_is_the_moves(path)):
                known = _staged(self.index, path) is not None
                (changed if known else untracked).append(path)
        around = blockers_in(self.repo, self.touched, skip=self.touched_set)
        return Blockers(
            tuple(sorted({*changed, *around.changed})),
            tuple(sorted({*untracked, *around.untracked})),
        )

    def _index_is_the_moves(self, path: str) -> bool:
        conflicts = self.index.conflicts
        if conflicts is not None and path in conflicts:
            return False
        return _staged(self.index, path) in (self.was[path], self.will[path])

    def _file_is_the_moves(self, path: str) -> bool:
        parent = _blocking_parent(self.workdir, path)
        if parent is not None:
            # Nothing of ``path`` exists; the file or symlink in its place is the
            # move's only if it is one of the move's paths (judged on its own).
            return parent in self.touched_set
        full = self.workdir / path
        was, will = self.was[path], self.will[path]
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            if will is None:
                self.done.add(path)
            return True  # removed by the move, or not written yet
        if stat.S_ISDIR(st.st_mode):
            return _is_tree(self.old, path) or _is_tree(self.new, path)
        found = self._version(path, full, st)
        if found is not None and found == will:
            self.done.add(path)
        if found is not None and found in (was, will):
            return True
        return will is not None and self._is_prefix(path, will, full, st.st_size)

    def _version(self, path: str, full: Path, st: os.stat_result) -> _Entry | None:
        """The file or symlink at ``path`` as an entry (id, mode), or None (another
        kind of file)."""
        if stat.S_ISLNK(st.st_mode):
            target = os.fsencode(os.readlink(full))
            return str(pygit2.hash(target)), int(FileMode.LINK)
        if not stat.S_ISREG(st.st_mode):
            return None
        hashed = str(self.repo.raw.hashfile(path))
        executable = bool(st.st_mode & stat.S_IXUSR)
        for entry in (self.was[path], self.will[path]):
            if entry is not None and entry[0] == hashed and self._mode_matches(entry, st):
                return entry  # the mode as the tree has it, where the file system lacks one
        return hashed, int(FileMode.BLOB_EXECUTABLE if executable else FileMode.BLOB)

    def _mode_matches(self, entry: _Entry, st: os.stat_result) -> bool:
        if entry[1] == FileMode.LINK:  # core.symlinks false: a file holding the target
            return True
        executable = bool(st.st_mode & stat.S_IXUSR)
        return not self.filemode or executable == (entry[1] == FileMode.BLOB_EXECUTABLE)

    def _is_prefix(self, path: str, entry: _Entry, full: Path, size: int) -> bool:
        """True when the file holds the first ``size`` bytes of the new version, as
        checkout writes it: a file the move was writing."""
        if entry[1] in (FileMode.LINK, FileMode.COMMIT):
            return False  # symlinks are made whole
        expected = self._content(path, entry)
        if size >= len(expected):
            return False
        with full.open("rb") as handle:
            written = handle.read(size + 1)
        return expected.startswith(written)

    def _content(self, path: str, entry: _Entry) -> bytes:
        """The blob as checkout writes it at ``path``: through its filters."""
        filters = self.repo.raw.load_filter_list(path, FilterMode.TO_WORKTREE)
        blob = self.repo.raw[entry[0]].peel(pygit2.Blob)
        return bytes(blob.data if filters is None else filters.apply_to_blob(blob))

    def _data(self, entry: _Entry) -> bytes:
        return bytes(self.repo.raw[entry[0]].peel(pygit2.Blob).data)

    # --- writing them new --------------------------------------------------------

    def write_new(self) -> list[str]:
        """Bring the paths to the new tree, files and index entries; return the paths
        that still differ from it afterwards (none, unless filters do not round-trip).
        Call it after ``foreign`` found none."""
        pending = [p for p in self.touched if p not in self.done]
        self._clear(pending)
        for path in pending:
            entry = self.will[path]
            if entry is not None:
                self._write(path, entry)
        index = self.repo.raw.index
        index.read(True)
        for path in self.touched:
            if self.will[path] is None and _staged(index, path) is not None:
                index.remove(path)
        for path in self.touched:
            entry = self.will[path]
            if entry is not None and entry[1] == FileMode.COMMIT:
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=entry[0]), FileMode.COMMIT))
            elif entry is not None:
                index_add_written(index, str(self.workdir / path), path, *entry)
        index.write()
        return self._not_new()

    def _clear(self, pending: list[str]) -> None:
        """Remove what is at the ``pending`` paths, except a file the new tree keeps a
        file (it is rewritten in place, as checkout does: far cheaper than a new
        file), in sorted order, parents first, so a file or symlink the move replaces
        with a directory goes before anything below it; then the directories that
        leaves empty."""
        emptied: set[str] = set()
        for path in pending:
            if _blocking_parent(self.workdir, path) is not None:
                continue  # below a file or symlink: nothing of it exists
            full = self.workdir / path
            if self._rewritable(path, full) or not (full.is_symlink() or full.is_file()):
                continue
            full.unlink()
            emptied.update(parent_dirs(path))
        for folder in sorted(emptied, key=lambda d: d.count("/"), reverse=True):
            with contextlib.suppress(OSError):  # not empty: something else is in it
                (self.workdir / folder).rmdir()

    def _rewritable(self, path: str, full: Path) -> bool:
        """A regular file where the new tree has a regular file."""
        entry = self.will[path]
        regular = entry is not None and entry[1] in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)
        return regular and full.is_file() and not full.is_symlink()

    def _write(self, path: str, entry: _Entry) -> None:
        full = self.workdir / path
        if entry[1] == FileMode.COMMIT:
            full.mkdir(parents=True, exist_ok=True)  # a submodule: an empty directory
            return
        full.parent.mkdir(parents=True, exist_ok=True)
        if entry[1] == FileMode.LINK:
            os.symlink(self._data(entry), full)
            return
        mode = 0o777 if entry[1] == FileMode.BLOB_EXECUTABLE else 0o666
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._content(path, entry))
            now = stat.S_IMODE(os.fstat(fd).st_mode)
            # A file rewritten in place keeps its mode: the executable bit follows the
            # new tree's (x wherever r is, or none), as git sets it.
            wanted = now | (now & 0o444) >> 2 if mode == 0o777 else now & ~0o111
            if wanted != now:
                os.fchmod(fd, wanted)

    def _not_new(self) -> list[str]:
        """The paths whose index entry or file is not the new tree's."""
        self.repo.raw.index.read(True)
        index = self.repo.raw.index
        status = self.repo.raw.status(untracked_files="no")
        return [
            p
            for p in self.touched
            if _staged(index, p) != self.will[p] or status.get(p, 0) & _IN_WORKTREE
        ]


def _blocking_parent(workdir: Path, path: str) -> str | None:
    """The first parent of ``path`` that is in the working tree but is not a
    directory (a file or a symlink), or None."""
    for parent in parent_dirs(path):
        try:
            st = os.lstat(workdir / parent)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return parent
    return None


def _staged(index: pygit2.Index, path: str) -> _Entry | None:
    """The index's entry at ``path`` (id, mode), or None."""
    try:
        entry = index[path]
    except KeyError:
        return None
    return str(entry.id), int(entry.mode)


def _blob(tree: pygit2.Tree, path: str) -> _Entry | None:
    """The blob at ``path`` in ``tree`` (id, mode), or None (no such path, or a
    directory)."""
    try:
        found = tree[path]
    except KeyError:
        return None
    if isinstance(found, pygit2.Tree):
        return None
    return str(found.id), int(found.filemode)


def _is_tree(tree: pygit2.Tree, path: str) -> bool:
    try:
        return isinstance(tree[path], pygit2.Tree)
    except KeyError:
        return False


def _config_bool(repo: GitRepo, key: str, *, default: bool) -> bool:
    try:
        with translate("open"):
            return bool(repo.raw.config.get_bool(key))
    except GitError:  # not set, or not a boolean
        return default
