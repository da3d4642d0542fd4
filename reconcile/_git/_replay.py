"""The in-memory rebase: local commits replayed onto the remote's tip, objects only.

Each commit's change is merged onto the new tip in memory (``merge_trees``); on a
conflict only loose objects were written, so refs, index, working tree and the
repository's state are untouched. The on-disk rebase is never used: on a conflict
it leaves ``rebase-merge/``, a detached HEAD and conflict markers behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from .._errors import GitError
from .._spec import Identity
from ._repo import GitRepo, empty_tree
from ._translate import translate

__all__ = ["Replay", "replay"]


@dataclass(frozen=True)
class Replay:
    """An in-memory rebase: the new tip, or why there is none (the paths of the
    first conflict, or ``refused``), and how many commits were replayed or dropped."""

    tip: str | None
    conflict_paths: tuple[str, ...] = ()
    refused: str | None = None
    replayed: int = 0
    dropped: int = 0


def replay(repo: GitRepo, commits: list[str], onto: str, committer: Identity | None) -> Replay:
    """Replay ``commits`` (oldest first) onto ``onto`` in memory. Writes objects
    only; refs, index and working tree are untouched.

    A commit whose change is already upstream (it *became* empty) is dropped; a
    commit that was empty to begin with is kept. Merge commits are not replayed:
    a merge can carry changes of its own (a resolution), which a linear replay
    would lose, so a history with merges is refused (``refused`` says why) and
    the caller escapes it instead.
    """
    raw = repo.raw
    with translate("rebase"):
        tip = raw[onto].peel(pygit2.Commit)
        replayed = dropped = 0
        for hexid in commits:
            commit = raw[hexid].peel(pygit2.Commit)
            if len(commit.parents) > 1:
                return Replay(
                    tip=None,
                    refused=f"local history has a merge commit ({hexid[:10]}), which is "
                    "not replayed, so its changes cannot be lost",
                )
            base_tree = commit.parents[0].tree if commit.parents else empty_tree(raw)
            was_empty = commit.tree_id == base_tree.id
            index = raw.merge_trees(base_tree, tip.tree, commit.tree)
            if index.conflicts is not None:
                return Replay(tip=None, conflict_paths=_conflict_paths(index))
            tree_id = index.write_tree(raw)
            if tree_id == tip.tree_id and not was_empty:
                dropped += 1
                continue
            new_id = raw.create_commit(
                None,
                commit.author,
                _committer(raw, commit, committer),
                commit.message,
                tree_id,
                [tip.id],
            )
            tip = raw[new_id].peel(pygit2.Commit)
            replayed += 1
        return Replay(tip=str(tip.id), replayed=replayed, dropped=dropped)


def _conflict_paths(index: pygit2.Index) -> tuple[str, ...]:
    assert index.conflicts is not None
    return tuple(
        sorted({entry.path for triple in index.conflicts for entry in triple if entry is not None})
    )


def _committer(
    raw: pygit2.Repository, commit: pygit2.Commit, committer: Identity | None
) -> pygit2.Signature:
    """The spec's committer, else the repository's configured user, else the commit's
    original committer."""
    if committer is not None:
        return pygit2.Signature(committer.name, committer.email)
    try:
        with translate("rebase"):
            return raw.default_signature
    except GitError:
        return pygit2.Signature(commit.committer.name, commit.committer.email)
