"""A branch move a crash cut short, finished from its note.

A move of a checked-out branch writes its note, checks the new tree out, then
moves the ref (``_move``). A crash in between leaves the note, the ref at the old
commit, and a working tree part old, part new. What libgit2 1.9's checkout
(``checkout.c``) can leave there, for each path that differs between the two
trees, is known:

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
directory counts where either tree has one). Anything else is a real local
change, and so is an untracked or ignored file in the way of the paths: then the
move is not finished, the run is ``blocked`` with those paths named, and nothing
is written. Otherwise those paths, and only those, are brought to the new tree:
their files are removed (each is the old or the new version, or a part of the new
one, all in git), then checked out afresh by a FORCE checkout limited to them,
the index with them (other local changes stay as they are), and the ref moves by
compare-and-swap under its lock; the note goes last. Removing first matters:
libgit2's FORCE checkout, meeting the new file ``e`` where the old tree had
``e/x``, removes ``e`` as a blocker of ``e/x`` and does not write it again. A crash during this finishing leaves the same kind of state, and the
next run finishes it the same way.

The other cases: a ref already at the new commit (the move got that far) only
loses its note; a ref at neither commit (someone else moved it since) keeps the
working tree as it is, and its note is set aside; a note for a branch that is not
checked out here (a bare repository, or HEAD moved since) moves the ref only.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode, FileStatus, FilterMode

from .._errors import GitError
from ._move import Blockers, blockers_in, parent_dirs
from ._note import MoveNote, drop_note, read_note, set_aside
from ._repo import GitRepo, empty_tree
from ._translate import translate

__all__ = ["Resumed", "finish_interrupted_move"]

_Entry = tuple[str, int]  # a blob's id and mode, as a tree or the index holds it
_IN_WORKTREE = (
    FileStatus.WT_MODIFIED | FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE | FileStatus.WT_NEW
)


@dataclass(frozen=True)
class Resumed:
    """What became of a move note: ``done`` says what was done (None: there was no
    note), ``blocked`` why the run must stop (the note is then kept)."""

    done: str | None = None
    blocked: str | None = None
    moved: bool = False  # a ref moved


def finish_interrupted_move(repo: GitRepo) -> Resumed:
    """Finish the move a crash cut short, if its note is there; see the module."""
    gitdir = repo.gitdir
    note = read_note(gitdir)
    if note is None:
        return Resumed()
    if isinstance(note, str) or not _commits_known(repo, note):
        aside = set_aside(gitdir, "invalid")
        return Resumed(done=f"set aside a move note that cannot be obeyed ({note!r}): {aside}")
    with translate("ref"), repo.raw.transaction() as txn:
        txn.lock_ref(note.refname)
        current = repo.branch_tip(note.branch)
        if current == note.new:
            drop_note(gitdir)
            return Resumed()
        if current != note.old:
            aside = set_aside(gitdir, "outdated")
            return Resumed(
                done=f"{note.branch} moved to {current} after an interrupted move to "
                f"{note.new[:10]}; its note was set aside: {aside}"
            )
        if repo.is_checked_out(note.branch):
            blocked = _finish_checkout(repo, note)
            if blocked is not None:
                return Resumed(blocked=blocked)
        txn.set_target(
            note.refname,
            pygit2.Oid(hex=note.new),
            message="git-reconcile: finish an interrupted move",
        )
    drop_note(gitdir)
    done = f"finished an interrupted move of {note.branch} to {note.new[:10]}"
    return Resumed(done=done, moved=True)


def _commits_known(repo: GitRepo, note: MoveNote) -> bool:
    wanted = [note.new] if note.old is None else [note.new, note.old]
    try:
        return all(isinstance(repo.raw.get(c), pygit2.Commit) for c in wanted)
    except (ValueError, pygit2.GitError):
        return False


def _finish_checkout(repo: GitRepo, note: MoveNote) -> str | None:
    """Bring the paths the move touches to the new tree, if every one of them is the
    move's; else say which are not, and write nothing."""
    old = empty_tree(repo.raw) if note.old is None else repo.raw[note.old].peel(pygit2.Tree)
    new = repo.raw[note.new].peel(pygit2.Tree)
    touched = repo.changed_paths(note.old, note.new)
    if not touched:
        return None
    found = _Paths(repo, old, new, touched).foreign()
    if found.paths:
        return (
            f"a move of {note.branch} to {note.new[:10]} was cut short and cannot be finished: "
            f"{found.describe()}; keep a copy of them if you need one, restore them "
            f"(git checkout -- PATH) or move them away, then run again"
        )
    _clear(repo.workdir, touched)
    strategy = (
        CheckoutStrategy.FORCE
        | CheckoutStrategy.RECREATE_MISSING
        | CheckoutStrategy.DISABLE_PATHSPEC_MATCH
    )
    # Limited to the move's own paths: nothing else is touched.
    repo.raw.checkout_tree(new, strategy=strategy, paths=list(touched))  # type: ignore[no-untyped-call]
    behind = _not_new(repo, new, touched)
    if behind:
        raise GitError(f"finishing the checkout left {behind[0]} behind", kind="checkout")
    return None


def _clear(workdir: Path | None, touched: tuple[str, ...]) -> None:
    """Remove the files at the move's paths (parents first, in sorted order, so a
    symlink the move replaces with a directory goes before anything below it), and
    the directories that leaves empty."""
    assert workdir is not None
    emptied: set[str] = set()
    for path in touched:
        if _blocking_parent(workdir, path) is not None:
            continue  # below a file or symlink: nothing of it exists
        full = workdir / path
        if full.is_symlink() or full.is_file():
            full.unlink()
            emptied.update(parent_dirs(path))
    for folder in sorted(emptied, key=lambda d: d.count("/"), reverse=True):
        with contextlib.suppress(OSError):  # not empty: something else is in it
            (workdir / folder).rmdir()


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


def _not_new(repo: GitRepo, new: pygit2.Tree, touched: tuple[str, ...]) -> list[str]:
    """The paths whose index entry or file is not the new tree's yet."""
    repo.raw.index.read(True)
    index = repo.raw.index
    status = repo.raw.status(untracked_files="no")
    behind = []
    for path in touched:
        if _staged(index, path) != _blob(new, path) or status.get(path, 0) & _IN_WORKTREE:
            behind.append(path)
    return behind


class _Paths:
    """The paths a move touches, judged one by one: whose are they?"""

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
        repo.raw.index.read(True)
        self.index = repo.raw.index

    def foreign(self) -> Blockers:
        """The paths that are not the move's: changed ones, and untracked files in
        the way of the move's paths."""
        changed = [
            p
            for p in self.touched
            if not (self._index_is_the_moves(p) and self._file_is_the_moves(p))
        ]
        around = blockers_in(self.repo, self.touched, skip=self.touched_set)
        return Blockers(tuple(sorted({*changed, *around.changed})), around.untracked)

    def _index_is_the_moves(self, path: str) -> bool:
        conflicts = self.index.conflicts
        if conflicts is not None and path in conflicts:
            return False
        return _staged(self.index, path) in (_blob(self.old, path), _blob(self.new, path))

    def _file_is_the_moves(self, path: str) -> bool:
        parent = _blocking_parent(self.workdir, path)
        if parent is not None:
            # Nothing of ``path`` exists; the file or symlink in its place is the
            # move's only if it is one of the move's paths (judged on its own).
            return parent in self.touched_set
        full = self.workdir / path
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            return True  # removed by the move, or not written yet
        was, will = _blob(self.old, path), _blob(self.new, path)
        if stat.S_ISDIR(st.st_mode):
            return _is_tree(self.old, path) or _is_tree(self.new, path)
        if stat.S_ISLNK(st.st_mode):
            target = os.fsencode(os.readlink(full))
            return any(
                e is not None and e[1] == FileMode.LINK and self._data(e) == target
                for e in (was, will)
            )
        if not stat.S_ISREG(st.st_mode):
            return False
        hashed = str(self.repo.raw.hashfile(path))
        for entry in (was, will):
            if entry is not None and entry[0] == hashed and self._mode_matches(entry, st):
                return True
        return will is not None and self._is_prefix(path, will, full, st.st_size)

    def _mode_matches(self, entry: _Entry, st: os.stat_result) -> bool:
        if entry[1] == FileMode.LINK:  # core.symlinks false: a file holding the target
            return True
        executable = bool(st.st_mode & stat.S_IXUSR)
        return not self.filemode or executable == (entry[1] == FileMode.BLOB_EXECUTABLE)

    def _is_prefix(self, path: str, entry: _Entry, full: Path, size: int) -> bool:
        """True when the file holds the first ``size`` bytes of the new version, as
        checkout writes it: a file the move was writing."""
        if entry[1] == FileMode.LINK:
            return False  # symlinks are made whole
        filters = self.repo.raw.load_filter_list(path, FilterMode.TO_WORKTREE)
        blob = self.repo.raw[entry[0]].peel(pygit2.Blob)
        expected = blob.data if filters is None else filters.apply_to_blob(blob)
        if size >= len(expected):
            return False
        with full.open("rb") as handle:
            written = handle.read(size + 1)
        return expected.startswith(written)

    def _data(self, entry: _Entry) -> bytes:
        return bytes(self.repo.raw[entry[0]].peel(pygit2.Blob).data)


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
        return bool(repo.raw.config.get_bool(key))
    except (KeyError, pygit2.GitError):
        return default
