"""Moving a branch without losing anything: ref lock, compare-and-swap, SAFE checkout.

A checked-out branch moves in this order: lock the ref and compare it with the
value the run read; check that no local change is in the way; write a note (the
journal) naming the move; check the new tree out SAFE (it refuses, writing
nothing, when a change is in the way); move the ref; drop the note. A crash
between the checkout and the ref's move leaves the files ahead of the branch, and
the note lets the next run finish the move. The wrong order (ref first, then
checkout) reports success and writes nothing, leaving the tree broken.

The conflict branches' refs are created and deleted here too: created only where
no ref exists, deleted only while they still point where we put them.
"""

from __future__ import annotations

import pygit2
from pygit2.enums import CheckoutStrategy, FileStatus

from .._errors import CheckoutBlockedError, GitError, RefMovedError
from ._repo import ZERO, GitRepo
from ._translate import translate

__all__ = [
    "JOURNAL",
    "blocking_paths",
    "create_ref",
    "delete_ref",
    "finish_interrupted_move",
    "move_branch",
]

JOURNAL = "git-reconcile-move"  # in the git directory while a checked-out branch moves


def blocking_paths(repo: GitRepo, old: str | None, new: str) -> tuple[str, ...]:
    """Local changes (staged, unstaged, untracked or ignored) that moving the
    checked-out branch from ``old`` to ``new`` would overwrite."""
    touched = set(repo.changed_paths(old, new))
    if not touched:
        return ()
    with translate("checkout"):
        status = repo.raw.status(untracked_files="all", ignored=True)
    blocked = set()
    for path, flags in status.items():
        if flags == FileStatus.CURRENT:
            continue
        # A path in the way, or a file inside a directory the update replaces.
        if path in touched or any(
            path.startswith(t + "/") or t.startswith(path.rstrip("/") + "/") for t in touched
        ):
            blocked.add(path)
    return tuple(sorted(blocked))


def move_branch(repo: GitRepo, branch: str, old: str | None, new: str, *, message: str) -> None:
    """Move ``branch`` from ``old`` to ``new``.

    The ref is locked first and compared with ``old`` (compare-and-swap), so no
    other writer can move it meanwhile; when the branch is checked out, a SAFE
    checkout follows, and the ref moves last. Raises CheckoutBlockedError or
    RefMovedError, and then nothing was written.
    """
    refname = f"refs/heads/{branch}"
    checkout = repo.is_checked_out(branch)
    journal = repo.gitdir / JOURNAL
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
                paths = blocking_paths(repo, old, new)
                if paths:
                    raise CheckoutBlockedError(_blocked_message(paths), paths=paths)
                # Between the checkout and the ref's move the files are ahead of
                # the branch; a note lets the next run finish a move cut short.
                journal.write_text(f"{branch} {old or ZERO} {new}\n")
                try:
                    _checkout(repo, new)
                except CheckoutBlockedError:
                    journal.unlink(missing_ok=True)  # SAFE refused: nothing written
                    raise
            txn.set_target(refname, pygit2.Oid(hex=new), message=message)
    except (CheckoutBlockedError, RefMovedError):
        raise
    except GitError as exc:
        raise RefMovedError(f"could not move {refname}: {exc}", kind="ref") from None
    journal.unlink(missing_ok=True)


def finish_interrupted_move(repo: GitRepo) -> str | None:
    """Finish a branch move a crash cut short between the checkout and the ref's
    move: when the ref is still at the old commit and the index holds exactly the
    new commit's tree, move the ref. Says what it did, or None."""
    journal = repo.gitdir / JOURNAL
    try:
        branch, old, new = journal.read_text().split()
    except (OSError, ValueError):
        return None
    with translate("ref"):
        current = repo.branch_tip(branch)
        done = current == new
        if not done and current == (None if old == ZERO else old) and repo.is_checked_out(branch):
            done = _move_to_index(repo, branch, current, new)
    journal.unlink(missing_ok=True)
    return (
        f"finished an interrupted move of {branch} to {new[:10]}"
        if done and (current != new)
        else None
    )


def _move_to_index(repo: GitRepo, branch: str, current: str | None, new: str) -> bool:
    """Move ``branch`` from ``current`` to ``new`` if the index holds exactly
    ``new``'s tree (the checkout of the cut-short move finished); True if moved."""
    repo.raw.index.read(True)
    target = repo.raw[new].peel(pygit2.Commit)
    if repo.raw.index.write_tree() != target.tree_id:
        return False
    with repo.raw.transaction() as txn:
        txn.lock_ref(f"refs/heads/{branch}")
        if repo.branch_tip(branch) != current:
            return False
        txn.set_target(
            f"refs/heads/{branch}",
            target.id,
            message="git-reconcile: finish an interrupted move",
        )
    return True


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


def _blocked_message(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    return (
        f"uncommitted changes would be overwritten: {shown}; commit or stash them, then run again"
    )
