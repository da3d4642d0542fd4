"""Moving a branch without losing anything: ref lock, compare-and-swap, SAFE checkout.

A checked-out branch moves in this order: lock the ref and compare it with the
value the run read; check that no local change is in the way; write a note (the
journal, ``_note``) naming the move; check the new tree out SAFE (it refuses,
writing nothing, when a change is in the way); move the ref; drop the note. A
crash during the checkout or before the ref's move leaves the files part or all
new with the branch still old, and the note lets the next run finish the move
(``_resume``). The wrong order (ref first, then checkout) reports success and
writes nothing, leaving the tree broken.

What is in the way is told apart: uncommitted changes (staged or not) to tracked
files, and untracked (or ignored) files, each named in the refusal.

The conflict branches' refs are created and deleted here too: created only where
no ref exists, deleted only while they still point where we put them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pygit2
from pygit2.enums import CheckoutStrategy, FileStatus

from .._errors import CheckoutBlockedError, GitError, RefMovedError
from ._note import MoveNote, drop_note, write_note
from ._repo import GitRepo
from ._status import STAGED as _STAGED
from ._translate import translate

__all__ = [
    "Blockers",
    "blockers_in",
    "blocking_paths",
    "create_ref",
    "delete_ref",
    "move_branch",
    "parent_dirs",
]

_UNTRACKED = FileStatus.WT_NEW | FileStatus.IGNORED


@dataclass(frozen=True)
class Blockers:
    """Local files in the way of a move: tracked files with uncommitted changes
    (staged or not), and untracked or ignored files."""

    changed: tuple[str, ...] = ()
    untracked: tuple[str, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(sorted({*self.changed, *self.untracked}))

    def describe(self) -> str:
        """What is in the way, in words: ``uncommitted changes would be overwritten:
        a.txt; an untracked file would be overwritten: b.txt``."""
        parts = []
        if self.changed:
            parts.append(f"uncommitted changes would be overwritten: {_shown(self.changed)}")
        if len(self.untracked) == 1:
            parts.append(f"an untracked file would be overwritten: {self.untracked[0]}")
        elif self.untracked:
            parts.append(f"untracked files would be overwritten: {_shown(self.untracked)}")
        return "; ".join(parts)

    def advice(self) -> str:
        """What to do about them."""
        if not self.untracked:
            return "commit or stash them, then run again"
        if not self.changed:
            return "move them away or commit them, then run again"
        return "commit, stash or move them away, then run again"


def blocking_paths(repo: GitRepo, old: str | None, new: str) -> Blockers:
    """Local changes (staged, unstaged, untracked or ignored) that moving the
    checked-out branch from ``old`` to ``new`` would overwrite."""
    return blockers_in(repo, repo.changed_paths(old, new))


def blockers_in(
    repo: GitRepo, touched: Iterable[str], *, skip: frozenset[str] = frozenset()
) -> Blockers:
    """Local changes at the ``touched`` paths, inside a directory one of them
    replaces, or where one of them needs a directory; paths in ``skip`` are not
    looked at."""
    files = set(touched)
    if not files:
        return Blockers()
    dirs = {parent for path in files for parent in parent_dirs(path)}
    with translate("checkout"):
        status = repo.raw.status(untracked_files="all", ignored=True)
    changed: list[str] = []
    untracked: list[str] = []
    for path, flags in status.items():
        bare = path.rstrip("/")
        if flags == FileStatus.CURRENT or bare in skip:
            continue
        if bare in files or bare in dirs or any(p in files for p in parent_dirs(bare)):
            new_here = flags & _UNTRACKED and not flags & _STAGED
            (untracked if new_here else changed).append(path)
    return Blockers(tuple(sorted(changed)), tuple(sorted(untracked)))


def parent_dirs(path: str) -> Iterator[str]:
    """``a`` and ``a/b`` for ``a/b/c``."""
    at = path.find("/")
    while at != -1:
        yield path[:at]
        at = path.find("/", at + 1)


def move_branch(repo: GitRepo, branch: str, old: str | None, new: str, *, message: str) -> None:
    """Move ``branch`` from ``old`` to ``new``.

    The ref is locked first and compared with ``old`` (compare-and-swap), so no
    other writer can move it meanwhile; when the branch is checked out, a SAFE
    checkout follows, and the ref moves last. Raises CheckoutBlockedError or
    RefMovedError, and then nothing was written.
    """
    refname = f"refs/heads/{branch}"
    checkout = repo.is_checked_out(branch)
    try:
        # The transaction commits when its block ends; a failure there (the lock
        # or the write) arrives through _translate as a GitError.
        with translate("ref"), repo.raw.transaction() as txn:
            txn.lock_ref(refname)
            current = repo.branch_tip(branch)
            if current != old:
                raise RefMovedError(
                    f"{refname} moved during the run (now {current}, expected {old})",
                    kind="ref",
                )
            if checkout:
                found = blocking_paths(repo, old, new)
                if found.paths:
                    refusal = f"{found.describe()}; {found.advice()}"
                    raise CheckoutBlockedError(refusal, paths=found.paths)
                # Between the checkout and the ref's move the files are ahead of
                # the branch; a note lets the next run finish a move cut short.
                write_note(repo.gitdir, MoveNote(branch, old, new))
                try:
                    _checkout(repo, new)
                except CheckoutBlockedError:
                    drop_note(repo.gitdir)  # SAFE refused: nothing written
                    raise
            txn.set_target(refname, pygit2.Oid(hex=new), message=message)
    except (CheckoutBlockedError, RefMovedError):
        raise
    except GitError as exc:
        raise RefMovedError(f"could not move {refname}: {exc}", kind="ref") from None
    drop_note(repo.gitdir)


def _checkout(repo: GitRepo, new: str) -> None:
    strategy = CheckoutStrategy.SAFE | CheckoutStrategy.DONT_OVERWRITE_IGNORED
    try:
        with translate("checkout"):
            tree = repo.raw[new].peel(pygit2.Tree)
            repo.raw.checkout_tree(tree, strategy=strategy)  # type: ignore[no-untyped-call]
    except GitError as exc:
        raise CheckoutBlockedError(f"local changes are in the way of the checkout: {exc}") from None


def create_ref(repo: GitRepo, refname: str, target: str, message: str) -> bool:
    """Create ``refname`` at ``target`` unless it exists; True when created."""
    try:
        with translate("ref"):
            repo.raw.create_reference_direct(
                refname, pygit2.Oid(hex=target), False, message=message
            )
    except GitError:
        if repo.ref_exists(refname):
            return False
        raise
    return True


def delete_ref(repo: GitRepo, refname: str, expected: str) -> None:
    """Delete ``refname`` if it still points at ``expected``."""
    with translate("ref"):
        ref = repo.raw.references.get(refname)
        if ref is not None and str(ref.target) == expected:
            ref.delete()


def _shown(paths: tuple[str, ...]) -> str:
    return ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
