"""``squash_unpushed``: this tool's own commits that have not reached the remote, made
one before the push; and where a run's commit ended up after a rebase.

A commit is this tool's own when its message carries the ``Auto-committed-by:
git-reconcile`` trailer, which every commit made with ``squash_unpushed`` on
carries (rebases keep messages, so replayed commits keep it too). The squash takes
the newest such commits in a row at the branch's tip that the remote branch does
not contain, and stops at the first one that is not: a commit someone else made
(or a merge) is never rewritten, nor anything below it. The squashed commit has
the tree of the newest, the author of the oldest, the others' authors as
co-authors, and every message and trailer in order. With a signer it is signed;
when the signature cannot be made, nothing is squashed (the commits, signed
already, are pushed as they are).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ._commit import CommitInfo, signature_kind
from ._commit_message import combine, compose, split_trailers
from ._committing import SQUASH_MARKER
from ._errors import ReconcileError
from ._git import StoredCommit, contains, read_commit, update_branch, write_commit
from ._identity import Identity
from ._target import Target

__all__ = ["Squashed", "relocated", "squash_unpushed", "squashed_commit"]

logger = logging.getLogger("reconcile")

_LONGEST = 1000  # commits one squash takes at most


@dataclass(frozen=True)
class Squashed:
    """The commit that replaced ``count`` unpushed commits of this tool."""

    sha: str
    count: int
    message: str
    author: Identity
    committer: Identity
    signed: bool
    replaced: tuple[str, ...]
    base: str | None  # the commit it sits on (None: it is the first)


def _chain(target: Target, local: str, remote_tip: str | None) -> list[StoredCommit]:
    """This tool's unpushed commits in a row at ``local``, newest first."""
    chain: list[StoredCommit] = []
    sha: str | None = local
    while sha is not None and len(chain) < _LONGEST and not contains(target.repo, remote_tip, sha):
        commit = read_commit(target.repo, sha)
        if len(commit.parents) > 1 or SQUASH_MARKER not in split_trailers(commit.message)[1]:
            break
        chain.append(commit)
        sha = commit.parents[0] if commit.parents else None
    return chain


def squash_unpushed(target: Target, local: str, remote_tip: str | None) -> Squashed | None:
    """Squash this tool's unpushed commits at the tip of the branch (at ``local``) into
    one and move the branch there; None when there are fewer than two."""
    chain = _chain(target, local, remote_tip)
    if len(chain) < 2:
        return None
    oldest, newest = chain[-1], chain[0]
    co_authors = dict.fromkeys(c.author for c in reversed(chain) if c.author != oldest.author)
    message = compose(
        combine([c.message for c in reversed(chain)]),
        [("Co-authored-by", str(a)) for a in co_authors],
    )
    policy = target.spec.commit_policy
    try:
        sha, signed = write_commit(
            target.repo,
            newest.tree,
            list(oldest.parents),
            oldest.author,
            newest.committer,
            message,
            when=time.time(),
            signer=policy.signer,
        )
    except ReconcileError:
        raise
    except Exception as exc:  # the signer failed: no unsigned commit, the commits kept
        logger.warning(
            "%s: not squashing %d unpushed commits: signing the squashed commit failed: %s",
            target.path,
            len(chain),
            exc,
        )
        return None
    update_branch(
        target.repo,
        target.branch,
        local,
        sha,
        f"git-reconcile: squash {len(chain)} unpushed commits",
    )
    replaced = tuple(c.sha for c in chain)
    base = oldest.parents[0] if oldest.parents else None
    return Squashed(
        sha, len(chain), message, oldest.author, newest.committer, signed, replaced, base
    )


def squashed_commit(target: Target, squashed: Squashed, made: CommitInfo | None) -> CommitInfo:
    """The run's commit after the squash: the squashed commit, which absorbed the run's
    own (``made``) when there was one."""
    return CommitInfo(
        sha=squashed.sha,
        paths=target.repo.changed_paths(squashed.base, squashed.sha),
        message=squashed.message,
        message_source="squash" if made is None else made.message_source,
        author=squashed.author,
        committer=squashed.committer,
        signed=squashed.signed,
        squashed=squashed.count - 1,
        signature=signature_kind(target.spec.commit_policy.signer) if squashed.signed else None,
        message_skipped=None if made is None else made.message_skipped,
    )


def relocated(target: Target, info: CommitInfo, tip: str | None, depth: int) -> str | None:
    """Where the commit ``info`` is on the branch at ``tip``: itself when ``tip``
    contains it, else the commit a rebase made of it (the same author and message,
    among the ``depth`` newest); None when it is not there."""
    if tip is None:
        return None
    if contains(target.repo, tip, info.sha):
        return info.sha
    sha: str | None = tip
    for _ in range(depth):
        if sha is None:
            break
        commit = read_commit(target.repo, sha)
        if commit.message == info.message and commit.author == info.author:
            return sha
        sha = commit.parents[0] if commit.parents else None
    return None
