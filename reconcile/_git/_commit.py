"""Writing a commit and moving the branch to it: the one place commits are created.

``write_commit`` makes the commit object, signed when a signer is given (the
commit's text goes to the signer, the signature into its ``gpgsig`` header, as
``git commit -S`` writes it). ``update_branch`` moves the branch by
compare-and-swap under its ref lock, without touching the working tree: the
files already are what the commit holds. Its reflog line is git's own,
``commit: <subject>`` (``commit (initial):`` for the first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pygit2

from .._commit import CommitSigner
from .._errors import GitError, InvalidSpecError, RefMovedError
from .._identity import Identity
from ._repo import GitRepo
from ._translate import translate

__all__ = [
    "StoredCommit",
    "configured_identity",
    "contains",
    "read_commit",
    "update_branch",
    "write_commit",
]


def _signature(identity: Identity, when: float) -> pygit2.Signature:
    offset = time.localtime(when).tm_gmtoff // 60
    return pygit2.Signature(identity.name, identity.email, int(when), offset)


def write_commit(  # noqa: PLR0917  (git's own order: tree, parents, author, committer, message)
    repo: GitRepo,
    tree: str,
    parents: list[str],
    author: Identity,
    committer: Identity,
    message: str,
    *,
    when: float,
    signer: CommitSigner | None = None,
) -> tuple[str, bool]:
    """Create the commit (no ref moves); its id, and whether it is signed."""
    raw = repo.raw
    with translate("commit"):
        who, by = _signature(author, when), _signature(committer, when)
        tree_id = pygit2.Oid(hex=tree)
        parent_ids: list[str | pygit2.Oid] = [pygit2.Oid(hex=p) for p in parents]
        if signer is None:
            return str(raw.create_commit(None, who, by, message, tree_id, parent_ids)), False
        # pygit2's stubs say Oid; it is the commit's text.
        content = str(raw.create_commit_string(who, by, message, tree_id, parent_ids))
    signature = signer.sign(content)
    with translate("commit"):
        return str(raw.create_commit_with_signature(content, signature)), True


def update_branch(repo: GitRepo, branch: str, old: str | None, new: str, message: str) -> None:
    """Move ``branch`` from ``old`` (None: it does not exist yet) to ``new`` by
    compare-and-swap; raises ``RefMovedError`` when it is elsewhere."""
    refname = f"refs/heads/{branch}"
    try:
        with translate("ref"), repo.raw.transaction() as txn:
            txn.lock_ref(refname)
            current = repo.branch_tip(branch)
            if current != old:
                raise RefMovedError(
                    f"{refname} moved while the commit was made (now {current}, expected {old})",
                    kind="ref",
                )
            txn.set_target(refname, pygit2.Oid(hex=new), message=message)
    except RefMovedError:
        raise
    except GitError as exc:
        raise RefMovedError(f"could not move {refname}: {exc}", kind="ref") from None


@dataclass(frozen=True)
class StoredCommit:
    """A commit as the squash reads it."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Identity
    committer: Identity
    message: str


def _identity(signature: pygit2.Signature) -> Identity:
    try:
        return Identity(signature.name, signature.email)
    except InvalidSpecError:  # git wrote it, so it is a commit someone else made
        return Identity("unknown", "unknown")


def read_commit(repo: GitRepo, sha: str) -> StoredCommit:
    with translate("commit"):
        commit = repo.raw[sha].peel(pygit2.Commit)
        return StoredCommit(
            sha=sha,
            tree=str(commit.tree_id),
            parents=tuple(str(p) for p in commit.parent_ids),
            author=_identity(commit.author),
            committer=_identity(commit.committer),
            message=commit.message,
        )


def configured_identity(repo: GitRepo) -> Identity | None:
    """The repository's configured user (``user.name``/``user.email``, at any config
    level), or None when either is missing."""
    try:
        with translate("config"):
            signature = repo.raw.default_signature
        return Identity(signature.name, signature.email)
    except (GitError, InvalidSpecError):
        return None


def contains(repo: GitRepo, tip: str | None, commit: str) -> bool:
    """Whether ``commit`` is ``tip`` or one of its ancestors."""
    if tip is None:
        return False
    with translate("compare"):
        return tip == commit or bool(repo.raw.descendant_of(tip, commit))
