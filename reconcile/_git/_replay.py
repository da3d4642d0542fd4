"""The in-memory rebase: local commits replayed onto the remote's tip, objects only.

Each commit's change is merged onto the new tip in memory (``merge_trees``); on a
conflict only loose objects were written, so refs, index, working tree and the
repository's state are untouched. The on-disk rebase is never used: on a conflict
it leaves ``rebase-merge/``, a detached HEAD and conflict markers behind.

The replay agrees with ``git rebase`` (git 2.39, its defaults):

- a local commit whose patch is already upstream (an upstream commit since the merge
  base has the same patch id, byte for byte) is dropped before anything is replayed,
  even when replaying it would apply cleanly (``_patch_ids``);
- a commit that becomes empty is dropped, one that was empty to begin with is kept;
  merge commits are not replayed (a history with one is refused, so escaped);
- where one side changed a file's mode and the other its content, the two are merged
  separately, as git does, though libgit2 reports a conflict for a binary file;
- a file added into a directory the other side renamed is a conflict, as git's
  ``CONFLICT (file location)`` (``_dir_renames``);
- renames are git's: found by git's rules, made in the trees, which are then merged
  without libgit2's own rename detection (``_renames``);
- a file on one side where the other changed a directory of that name is git's
  file/directory conflict, and a merge that would drop a file the commit wrote is a
  conflict whatever libgit2 says (``_file_dir``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pygit2
from pygit2.enums import MergeFlag, SortMode

from .._commit import CommitSigner
from .._errors import GitError
from .._spec import Identity
from ._dir_renames import directory_rename
from ._file_dir import file_directory_conflict, lost_file
from ._modes import merge_modes_apart
from ._patch_ids import already_upstream
from ._renames import renames_applied
from ._repo import GitRepo, empty_tree
from ._translate import translate

__all__ = ["Replay", "replay"]


@dataclass(frozen=True)
class Replay:
    """An in-memory rebase: the new tip, or why there is none (the paths of the
    first conflict and what kind it is, or ``refused``), and how many commits were
    replayed, dropped because they became empty, or dropped as already upstream."""

    tip: str | None
    conflict_paths: tuple[str, ...] = ()
    conflict_detail: str | None = None
    refused: str | None = None
    replayed: int = 0
    dropped: int = 0
    upstream: int = 0
    unsigned: str | None = None  # why a replayed commit could not be signed


def replay(
    repo: GitRepo,
    local: str,
    onto: str,
    committer: Identity | None,
    signer: CommitSigner | None = None,
) -> Replay:
    """Replay the commits of ``local`` that ``onto`` lacks (oldest first) onto
    ``onto`` in memory. Writes objects only; refs, index and working tree are
    untouched. With a ``signer``, every replayed commit is signed anew; when a
    signature cannot be made, nothing is replayed (``unsigned`` says why).

    A commit whose patch is already upstream is dropped, as is one that *became*
    empty; a commit that was empty to begin with is kept. Merge commits are not
    replayed: a merge can carry changes of its own (a resolution), which a linear
    replay would lose, so a history with merges is refused (``refused`` says why)
    and the caller escapes it instead.
    """
    raw = repo.raw
    with translate("rebase"):
        commits = _walk(raw, local, onto)
        merge = next((c for c in commits if len(c.parents) > 1), None)
        if merge is not None:
            return Replay(
                tip=None,
                refused=f"local history has a merge commit ({str(merge.id)[:10]}), which is "
                "not replayed, so its changes cannot be lost",
            )
        upstream = already_upstream(raw, commits, _upstream(raw, onto, local))
        run = _Run(raw, raw[onto].peel(pygit2.Commit), _committer_for(raw, committer), signer)
        for commit in commits:
            if commit.id in upstream:
                continue
            stopped = run.pick(commit)
            if stopped is not None:
                return stopped
        return Replay(
            tip=str(run.tip.id),
            replayed=run.replayed,
            dropped=run.dropped,
            upstream=len(upstream),
        )


def _walk(raw: pygit2.Repository, tip: str, hidden: str) -> list[pygit2.Commit]:
    """Commits reachable from ``tip`` and not from ``hidden``, oldest first."""
    walker = raw.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE)
    walker.hide(hidden)
    return list(walker)


def _upstream(raw: pygit2.Repository, onto: str, local: str) -> Iterator[pygit2.Commit]:
    """The upstream's commits since the merge base, in no particular order, read only
    as far as they are asked for."""
    walker = raw.walk(onto, SortMode.NONE)
    walker.hide(local)
    yield from walker


class _Run:
    """One replay under way: the tip so far, and what became of each commit."""

    def __init__(
        self,
        raw: pygit2.Repository,
        tip: pygit2.Commit,
        committer: pygit2.Signature | None,
        signer: CommitSigner | None,
    ) -> None:
        self.raw, self.tip, self.committer, self.signer = raw, tip, committer, signer
        self.replayed = self.dropped = 0

    def pick(self, commit: pygit2.Commit) -> Replay | None:
        """Replay one commit onto the tip; a ``Replay`` that stops the run on a conflict."""
        raw = self.raw
        base = commit.parents[0].tree if commit.parents else empty_tree(raw)
        merged = _merge(raw, base, self.tip.tree, commit.tree)
        if isinstance(merged, Replay):
            return merged
        tree_id = merged.write_tree(raw)
        if tree_id == self.tip.tree_id and commit.tree_id != base.id:
            self.dropped += 1
            return None
        committer = self.committer or _original_committer(commit)
        new_id = self._create(commit, committer, tree_id)
        if isinstance(new_id, Replay):
            return new_id
        self.tip = raw[new_id].peel(pygit2.Commit)
        self.replayed += 1
        return None

    def _create(
        self, commit: pygit2.Commit, committer: pygit2.Signature, tree_id: pygit2.Oid
    ) -> pygit2.Oid | Replay:
        """The replayed commit, signed when there is a signer; a stopped ``Replay``
        when the signature cannot be made (no unsigned commit is made instead)."""
        raw = self.raw
        parents: list[str | pygit2.Oid] = [self.tip.id]
        author, message = commit.author, commit.message
        if self.signer is None:
            return raw.create_commit(None, author, committer, message, tree_id, parents)
        # pygit2's stubs say Oid; it is the commit's text.
        content = str(raw.create_commit_string(author, committer, message, tree_id, parents))
        try:
            signature = self.signer.sign(content)
        except Exception as exc:  # a signer is the caller's code: its failure stops the replay
            return Replay(
                tip=None,
                unsigned=f"signing the replayed commit {str(commit.id)[:10]} failed: {exc}",
            )
        return raw.create_commit_with_signature(content, signature)


def _merge(
    raw: pygit2.Repository, base: pygit2.Tree, tip: pygit2.Tree, commit: pygit2.Tree
) -> pygit2.Index | Replay:
    """The change ``base`` -> ``commit`` merged onto ``tip`` as git merges it, or the
    stopped ``Replay`` that says where and why it conflicts."""
    merge = renames_applied(raw, base, tip, commit)
    if merge.conflict is not None:
        return _conflict(*merge.conflict)
    clash = file_directory_conflict(merge.base, merge.tip, merge.commit)
    if clash is not None:
        return _conflict(*clash)
    index = raw.merge_trees(merge.base, merge.tip, merge.commit, flags=MergeFlag(0))
    merge_modes_apart(index)
    if index.conflicts is not None:
        return Replay(tip=None, conflict_paths=_conflict_paths(index))
    lost = lost_file(merge.base, merge.commit, index)
    if lost is not None:
        return _conflict(lost, "the merge would drop this file of the local commit")
    moved = directory_rename(raw, base, tip, commit)
    if moved is not None:
        return _conflict(moved.path, moved.describe())
    return index


def _conflict(path: str, why: str) -> Replay:
    return Replay(tip=None, conflict_paths=(path,), conflict_detail=why)


def _conflict_paths(index: pygit2.Index) -> tuple[str, ...]:
    assert index.conflicts is not None
    return tuple(
        sorted({entry.path for triple in index.conflicts for entry in triple if entry is not None})
    )


def _committer_for(raw: pygit2.Repository, committer: Identity | None) -> pygit2.Signature | None:
    """The spec's committer, else the repository's configured user, else None: each
    commit's original committer then."""
    if committer is not None:
        return pygit2.Signature(committer.name, committer.email)
    try:
        with translate("rebase"):
            return raw.default_signature
    except GitError:
        return None


def _original_committer(commit: pygit2.Commit) -> pygit2.Signature:
    return pygit2.Signature(commit.committer.name, commit.committer.email)
