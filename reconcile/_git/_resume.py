"""A branch move a crash cut short, finished from its note.

A move of a checked-out branch writes its note, checks the new tree out, then
moves the ref (``_move``). A crash in between leaves the note, the ref at the old
commit, the ref's lock file (cleared as stale before this runs), and a working
tree part old, part new. The next run looks at each path the move touches
(``_cut_short``): when every one is the move's own (old, new, half written or
missing), those paths, and only those, are brought to the new tree, and the ref
moves by compare-and-swap under its lock; the note goes last. When one is not (a
real local change, an untracked file in the way), nothing is written and the run
is ``blocked``, naming it. A crash during the finishing leaves the same kind of
state, and the next run finishes it the same way.

The other cases: a ref already at the new commit (the move got that far) only
loses its note; a ref at neither commit (someone else moved it since) keeps the
working tree as it is, and its note is set aside; a note for a branch that is not
checked out here (a bare repository, or HEAD moved since) moves the ref only; a
note that does not parse, or names commits this repository lacks, is set aside.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from .._errors import GitError
from ._cut_short import CutShort
from ._note import MoveNote, drop_note, read_note, set_aside
from ._repo import GitRepo, empty_tree
from ._translate import translate

__all__ = ["Resumed", "finish_interrupted_move"]


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
        with translate("open"):
            return all(isinstance(repo.raw.get(c), pygit2.Commit) for c in wanted)
    except GitError:
        return False


def _finish_checkout(repo: GitRepo, note: MoveNote) -> str | None:
    """Bring the paths the move touches to the new tree, if every one of them is the
    move's; else say which are not, and write nothing."""
    old = empty_tree(repo.raw) if note.old is None else repo.raw[note.old].peel(pygit2.Tree)
    new = repo.raw[note.new].peel(pygit2.Tree)
    touched = repo.changed_paths(note.old, note.new)
    if not touched:
        return None
    paths = CutShort(repo, old, new, touched)
    found = paths.foreign()
    if found.paths:
        return (
            f"a move of {note.branch} to {note.new[:10]} was cut short and cannot be finished: "
            f"{found.describe()}; keep a copy of them if you need one, restore them "
            f"(git checkout -- PATH) or move them away, then run again"
        )
    behind = paths.write_new()
    if behind:
        raise GitError(f"finishing the checkout left {behind[0]} behind", kind="checkout")
    return None
