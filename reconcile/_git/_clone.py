"""Cloning into a fresh directory, over the same sessions as every fetch.

``pygit2.clone_repository`` would pass libgit2's own certificate callback, which
hands Python no host key: the clone is made here instead, step by step, so it
goes through ``Session`` (host keys verified, credentials counted, waits bounded,
cancellable) like a run's fetch. Full history: every branch and tag the remote
has is fetched; the branch to work on (the one asked for, else the remote's
HEAD) is created locally and, in a working tree, checked out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy

from ._repo import GitRepo
from ._session import NetOptions, Session
from ._translate import translate

__all__ = ["Cloned", "clone_into", "set_remote_url"]

_HEADS = "+refs/heads/*:refs/remotes/{remote}/*"
_TAGS = "+refs/tags/*:refs/tags/*"


@dataclass(frozen=True)
class Cloned:
    """What a clone holds: its branch (None when the remote has none and none was
    asked for) and that branch's commit (None: the remote has no such branch yet)."""

    branch: str | None
    commit: str | None


def clone_into(
    dest: Path, url: str, *, remote: str, branch: str | None, bare: bool, net: NetOptions
) -> Cloned:
    """Make a clone of ``url`` at ``dest``, a directory that is missing or empty.

    Raises ``NetworkError`` (nothing useful is left at ``dest`` then: the caller
    clones into a place it throws away on failure) or ``GitError``.
    """
    session = Session(url, net, "fetch")
    session.pack_dir = dest / ("objects" if bare else ".git/objects") / "pack"
    with translate("fetch", url, session):
        repo = pygit2.init_repository(str(dest), bare=bare)
        origin = repo.remotes.create(remote, url)
        with session.running(origin):
            session.connect(origin)
            listed = {h.name: h for h in origin.list_heads(connect=False) if h.name}
            if any(name.startswith("refs/heads/") for name in listed):
                specs = [_HEADS.format(remote=remote), _TAGS]
                session.fetch(origin, specs, "git-reconcile: clone", session.pack_dir)
    head = listed.get("HEAD")
    default = head.symref_target if head is not None else None
    chosen = branch or (default[len("refs/heads/") :] if default else None)
    with translate("clone"):
        return _settle(repo, remote, chosen, bare=bare)


def _settle(repo: pygit2.Repository, remote: str, branch: str | None, *, bare: bool) -> Cloned:
    """Create the local branch at the fetched tip, check it out, and point HEAD at it."""
    if branch is None:
        return Cloned(None, None)
    tracking = repo.references.get(f"refs/remotes/{remote}/{branch}")
    if tracking is None:  # an empty remote, or a branch it lacks yet: HEAD names it, unborn
        repo.references.create("HEAD", f"refs/heads/{branch}", force=True)
        return Cloned(branch, None)
    tip = tracking.target
    if not bare:
        # HEAD is still unborn, so SAFE writes every file of the tree into the
        # empty directory (with HEAD moved first, it would write nothing).
        tree = repo[tip].peel(pygit2.Commit).tree
        repo.checkout_tree(tree, strategy=CheckoutStrategy.SAFE)  # type: ignore[no-untyped-call]
    local = repo.branches.local.create(branch, repo[tip].peel(pygit2.Commit))
    if not bare:
        local.upstream = repo.branches.remote[f"{remote}/{branch}"]
    repo.set_head(f"refs/heads/{branch}")
    return Cloned(branch, str(tip))


def set_remote_url(repo: GitRepo, remote: str, url: str) -> str | None:
    """Point ``remote`` at ``url`` (creating it when missing); its old URL, or None."""
    repo.forget_remotes()
    with translate("open"):
        remotes = repo.raw.remotes
        if remote not in [r.name for r in remotes]:
            remotes.create(remote, url)
            return None
        old = remotes[remote].url or ""
        remotes.set_url(remote, url)
        return old
