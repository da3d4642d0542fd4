"""Staging a commit from the working tree, as ``git add -A`` and ``git commit`` do, with
the index locked from the first read to the last write.

The lock is git's own: ``index.lock``, created exclusively, so no git command
writes the index meanwhile (and none of ours runs while git holds it). Two indexes
are built from what is there:

- the **new index**: the index as it was, with each staged path's entry replaced.
  It is written into ``index.lock`` before the hooks run (``GIT_INDEX_FILE`` for
  them, as git commit does) and renamed over ``index`` once the branch has moved:
  then ``git status`` shows the committed paths clean;
- the **commit's index**: HEAD's tree with the same entries, whose tree is what the
  commit holds. It differs from the new index only when changes the commit leaves
  out were staged already (outside the request's paths, or excluded); the hooks
  then get it as a file of its own.

Each file is read as a snapshot: its stat data before the read, the content, its
stat data after; when the two differ it is read again (a few times, then left out:
it stays dirty for the next commit). The entry records the stat data from before
the read, so a write after it always shows as a change, and an entry whose file
was written within the last two seconds is smudged (see ``_entries``): a write in
the same clock tick as the read, which no stat data can tell apart, is then still
found by comparing content. A file written while it is read is never half
committed unless its writer writes in place; write files atomically (a temporary
file, then a rename) and a commit only ever holds whole versions.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pygit2
from pygit2.enums import DeltaStatus, FileMode, FileStatus

from .._commit_context import ChangeStatus
from .._errors import GitError
from ._entries import SKIP_WORKTREE, add_entry, entry_flags_extended
from ._repo import GitRepo, empty_tree
from ._status import STAGED as _STAGED
from ._translate import translate

__all__ = ["HOOK_INDEX", "SCRATCH", "IndexBusy", "Pending", "Snapshot", "Staging"]

SCRATCH = "git-reconcile-index"  # the new index while it is built
HOOK_INDEX = "git-reconcile-commit-index"  # the commit's index, for hooks, when it differs
_TRIES = 3  # reads of a file that keeps changing before it is left for the next commit
_RACY_NS = 2_000_000_000  # entries of files written this recently are smudged

_WORKTREE = (
    FileStatus.WT_NEW
    | FileStatus.WT_MODIFIED
    | FileStatus.WT_DELETED
    | FileStatus.WT_TYPECHANGE
    | FileStatus.WT_RENAMED
    | FileStatus.WT_UNREADABLE
)
_STATUS: dict[DeltaStatus, ChangeStatus] = {
    DeltaStatus.ADDED: "added",
    DeltaStatus.DELETED: "deleted",
}


class IndexBusy(GitError):
    """Another process holds the index's lock."""


@dataclass(frozen=True)
class Pending:
    """A path with a change: the working tree differs from the index (``worktree``:
    it must be read), and/or the index differs from HEAD (``staged``)."""

    path: str
    worktree: bool
    staged: bool


@dataclass(frozen=True)
class Snapshot:
    """A path as read from the working tree: the content to commit (filters applied;
    None when the file is gone), its mode and the stat data from before the read."""

    path: str
    data: bytes | None = None
    mode: FileMode = FileMode.BLOB
    stat: os.stat_result | None = None
    read_ns: int = 0
    size: int = 0
    too_large: bool = False
    busy: bool = False


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_mode, a.st_ino, a.st_dev, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_mode,
        b.st_ino,
        b.st_dev,
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
    )


class Staging:
    """The index of a working tree, locked for one commit (a context manager: leaving
    it without ``finish()`` removes the lock and writes nothing)."""

    def __init__(self, repo: GitRepo, head: str | None) -> None:
        assert repo.workdir is not None
        self.repo = repo
        self.workdir = repo.workdir
        self.lock = repo.gitdir / "index.lock"
        self._scratch = repo.gitdir / SCRATCH
        self._hook_index = repo.gitdir / HOOK_INDEX
        self._head = head
        self._held = False
        self._staged: dict[str, Snapshot | None] = {}  # None: take the index's entry
        self._oids: dict[str, pygit2.Oid] = {}
        self._index_differs: set[str] = set()  # paths where the index differs from HEAD
        self.new: pygit2.Index
        self.head_tree: pygit2.Tree

    # --- the lock ---------------------------------------------------------------------

    def __enter__(self) -> Staging:
        try:
            os.close(os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise IndexBusy(
                f"another process is writing the index (it holds {self.lock}); "
                "run again when it is done",
                kind="index",
            ) from None
        self._held = True
        try:
            self._scratch.unlink(missing_ok=True)
            index = self.repo.gitdir / "index"
            if index.exists():
                shutil.copyfile(index, self._scratch)
            with translate("index"):
                self.new = pygit2.Index(str(self._scratch))
                raw = self.repo.raw
                self.head_tree = (
                    raw[self._head].peel(pygit2.Tree) if self._head else empty_tree(raw)
                )
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._held:
            self._release()

    def _release(self) -> None:
        for path in (self._scratch, self._hook_index, self.lock):
            path.unlink(missing_ok=True)
        self._held = False

    # --- what changed -----------------------------------------------------------------

    def pending(self) -> tuple[list[Pending], list[str]]:
        """The changed paths (of the working tree against the index, and of the index
        against HEAD; ignored files only when tracked), and the unmerged ones."""
        with translate("status"):
            status = self.repo.raw.status(untracked_files="all", ignored=False)
        changes: list[Pending] = []
        unmerged: list[str] = []
        for path, flags in sorted(status.items()):
            if flags & FileStatus.CONFLICTED:
                unmerged.append(path)
            elif path.endswith("/"):
                continue  # a repository inside the tree: never committed from here
            elif not self._sparse(path, flags):
                changes.append(Pending(path, bool(flags & _WORKTREE), bool(flags & _STAGED)))
        self._index_differs = {c.path for c in changes if c.staged}
        return changes, unmerged

    def _sparse(self, path: str, flags: int) -> bool:
        """A path sparse checkout leaves out of the tree: its absence is no deletion."""
        if not flags & FileStatus.WT_DELETED:
            return False
        extended = entry_flags_extended(self.new, path)
        return extended is not None and bool(extended & SKIP_WORKTREE)

    def head_blob(self, path: str) -> bytes | None:
        """The content of ``path`` at HEAD, or None."""
        with translate("index"):
            try:
                found = self.head_tree[path]
            except KeyError:
                return None
            return found.data if isinstance(found, pygit2.Blob) else None

    def filter_of(self, path: str) -> str | None:
        """The ``filter=`` attribute of ``path`` (``lfs``, ...), or None."""
        with translate("attributes"):
            value = self.repo.raw.get_attr(path, "filter")
        if isinstance(value, str):
            return value
        return "filter" if value is True else None

    def is_submodule(self, path: str) -> bool:
        with translate("index"):
            return path in self.new and self.new[path].mode == FileMode.COMMIT

    # --- reading the working tree -----------------------------------------------------

    def snapshot(self, path: str, max_size: int) -> Snapshot:
        """Read ``path`` from the working tree (see the module's docstring)."""
        full = self.workdir / path
        for _try in range(_TRIES):
            try:
                before = os.lstat(full)
                if stat.S_ISDIR(before.st_mode) or not (
                    stat.S_ISREG(before.st_mode) or stat.S_ISLNK(before.st_mode)
                ):
                    return Snapshot(path)  # no file there now (a folder): gone
                if before.st_size > max_size and stat.S_ISREG(before.st_mode):
                    return Snapshot(path, size=before.st_size, too_large=True)
                data, mode = self._read(path, full, before)
                after = os.lstat(full)
            except (FileNotFoundError, NotADirectoryError):
                return Snapshot(path)
            if _same(before, after):
                return Snapshot(path, data, mode, before, time.time_ns(), before.st_size)
        return Snapshot(path, busy=True)

    def _read(self, path: str, full: Path, before: os.stat_result) -> tuple[bytes, FileMode]:
        if stat.S_ISLNK(before.st_mode):
            return os.fsencode(os.readlink(full)), FileMode.LINK
        data = full.read_bytes()
        with translate("filter"):
            filters = self.repo.raw.load_filter_list(path)
            if filters is not None:
                data = filters.apply_to_buffer(data)
        return data, self._mode(path, before)

    def _mode(self, path: str, before: os.stat_result) -> FileMode:
        config = self.repo.raw.config
        filemode = "core.filemode" not in config or config.get_bool("core.filemode")
        if filemode:
            return FileMode.BLOB_EXECUTABLE if before.st_mode & 0o100 else FileMode.BLOB
        if path in self.new and self.new[path].mode == FileMode.BLOB_EXECUTABLE:
            return FileMode.BLOB_EXECUTABLE
        return FileMode.BLOB

    # --- staging ----------------------------------------------------------------------

    def stage(self, snapshot: Snapshot) -> None:
        """Put the snapshot in the new index (its blob written) and in the commit."""
        path = snapshot.path
        with translate("index"):
            if snapshot.data is None:
                if path in self.new:
                    self.new.remove(path)
            else:
                assert snapshot.stat is not None
                oid = self.repo.raw.create_blob(snapshot.data)
                self._oids[path] = oid
                recent = snapshot.stat.st_mtime_ns >= snapshot.read_ns - _RACY_NS
                add_entry(self.new, path, oid, snapshot.mode, snapshot.stat, smudge=recent)
        self._staged[path] = snapshot

    def keep(self, path: str) -> None:
        """Commit ``path`` as the index has it already (staged before the run)."""
        self._staged[path] = None

    @property
    def staged(self) -> tuple[str, ...]:
        return tuple(self._staged)

    def _entries(self) -> Iterator[tuple[str, pygit2.IndexEntry | None]]:
        """The commit's entry of each staged path (None: no file), deletions first."""
        found: list[tuple[str, pygit2.IndexEntry | None]] = []
        for path, snapshot in self._staged.items():
            if snapshot is None:
                found.append((path, self.new[path] if path in self.new else None))  # noqa: SIM401
            elif snapshot.data is None:
                found.append((path, None))
            else:
                found.append((path, pygit2.IndexEntry(path, self._oids[path], snapshot.mode)))
        found.sort(key=lambda item: item[1] is not None)
        yield from found

    def commit_tree(self) -> str:
        """The tree the commit holds: HEAD's, with every staged path's entry."""
        with translate("index"):
            index = pygit2.Index()
            index.read_tree(self.head_tree)
            for path, entry in self._entries():
                if entry is None:
                    if path in index:
                        index.remove(path)
                else:
                    index.add(entry)
            return str(index.write_tree(self.repo.raw))

    def changes(self, tree: str) -> list[tuple[str, ChangeStatus]]:
        """``(path, status)`` of each path ``tree`` changes against HEAD."""
        with translate("index"):
            new = self.repo.raw[tree].peel(pygit2.Tree)
            diff = self.head_tree.diff_to_tree(new)
            return [
                (
                    d.new_file.path if d.status != DeltaStatus.DELETED else d.old_file.path,
                    _STATUS.get(d.status, "modified"),
                )
                for d in diff.deltas
            ]

    def patch(self, tree: str) -> str:
        """The unified diff of ``tree`` against HEAD."""
        with translate("index"):
            new = self.repo.raw[tree].peel(pygit2.Tree)
            return self.head_tree.diff_to_tree(new).patch or ""

    # --- writing ----------------------------------------------------------------------

    def publish(self, tree: str) -> Path:
        """Write the new index into ``index.lock`` (still held) and, when the commit
        leaves out changes staged before, the commit's own index. Returns the index
        file the hooks read."""
        with translate("index"):
            self.new.write()
            os.replace(self._scratch, self.lock)
            if not (self._index_differs - set(self._staged)):
                return self.lock
            index = pygit2.Index(str(self._hook_index))
            index.read_tree(self.repo.raw[tree].peel(pygit2.Tree))
            index.write()
        return self._hook_index

    def tree_of(self, index_file: Path, before: str) -> str:
        """The tree of ``index_file`` after the hooks ran (they may have staged more);
        when it is the commit's own index, what they changed goes into the new
        index too."""
        with translate("index"):
            tree = str(pygit2.Index(str(index_file)).write_tree(self.repo.raw))
            if tree == before or index_file == self.lock:
                return tree
            new = pygit2.Index(str(self.lock))
            old_tree = self.repo.raw[before].peel(pygit2.Tree)
            for delta in old_tree.diff_to_tree(self.repo.raw[tree].peel(pygit2.Tree)).deltas:
                if delta.status == DeltaStatus.DELETED:
                    new.remove(delta.old_file.path)
                else:
                    file = delta.new_file
                    new.add(pygit2.IndexEntry(file.path, file.id, file.mode))
            new.write()
            return tree

    def finish(self) -> None:
        """Make the new index the repository's (``index.lock`` renamed over ``index``)."""
        os.replace(self.lock, self.repo.gitdir / "index")
        self._held = False
        self._hook_index.unlink(missing_ok=True)
