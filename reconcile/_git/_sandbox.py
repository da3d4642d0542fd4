"""The git work behind ``reconcile.testing``: bare remotes, clones, commits and reads,
with pygit2 only (no ``git`` binary), every call inside ``translate()``.

Commits are written as a writer would write them: in a working tree, files are
written, staged and committed, so ``git status`` is clean afterwards; in a bare
repository, with plumbing (blobs, a tree from an in-memory index, the commit).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, RepositoryInitFlag, RepositoryOpenFlag

from .._errors import GitError
from .._spec import Identity
from ._translate import translate

__all__ = ["branch_tips", "clone", "commit", "init_bare", "read_files", "resolve"]

# Path -> new content, or None to delete the file.
Changes = Mapping[str, bytes | None]


def init_bare(path: Path, branch: str) -> None:
    """Create a bare repository at ``path`` whose HEAD names ``branch``."""
    with translate("init"):
        pygit2.init_repository(
            str(path),
            bare=True,
            flags=RepositoryInitFlag.MKPATH | RepositoryInitFlag.NO_REINIT,
            initial_head=branch,
        )


def clone(url: str, path: Path, *, branch: str, bare: bool, identity: Identity) -> None:
    """Clone ``url`` into ``path`` with ``branch`` checked out, and configure
    ``identity`` as the clone's user, as a deployed application's clone would be."""
    with translate("clone"):
        repo = pygit2.clone_repository(url, str(path), bare=bare, checkout_branch=branch)
        repo.config["user.name"] = identity.name
        repo.config["user.email"] = identity.email
        repo.free()


def commit(
    path: Path,
    ref: str,
    changes: Changes,
    message: str,
    *,
    author: Identity,
    when: datetime,
    base: str | None = None,
) -> str:
    """Commit ``changes`` on ``ref`` (``HEAD`` or a full ref name) of the repository at
    ``path``, by ``author`` (also the committer) at ``when``; returns the commit id.

    A ``ref`` that does not exist yet is created, starting from the ref ``base``
    names (with no ``base``, or none there, the commit has no parent).
    """
    with translate("commit"):
        repo = _open(path)
        try:
            signature = _signature(author, when)
            parent = _tip(repo, ref)
            if parent is None and base is not None:
                parent = _tip(repo, base)
            if repo.is_bare:
                index = pygit2.Index()
                if parent is not None:
                    index.read_tree(parent.tree)
                _stage_blobs(repo, index, changes)
                tree = index.write_tree(repo)
            else:
                tree = _stage_worktree(repo, changes)
            parents = [] if parent is None else [parent.id]
            return str(repo.create_commit(ref, signature, signature, message, tree, parents))
        finally:
            repo.free()


def resolve(path: Path, ref: str) -> str | None:
    """The commit ``ref`` (``HEAD`` or a full ref name) names, or None when it names none."""
    with translate("read"):
        repo = _open(path)
        try:
            found = _tip(repo, ref)
            return None if found is None else str(found.id)
        finally:
            repo.free()


def branch_tips(path: Path, prefix: str) -> dict[str, str]:
    """The local branches whose names start with ``prefix``, with the commits they name."""
    with translate("read"):
        repo = _open(path)
        try:
            return {
                name: str(repo.branches.local[name].target)
                for name in sorted(repo.branches.local)
                if name.startswith(prefix)
            }
        finally:
            repo.free()


def read_files(path: Path, ref: str) -> dict[str, bytes]:
    """Every file of the tree ``ref`` names, by path, with its content."""
    with translate("read"):
        repo = _open(path)
        try:
            tip = _tip(repo, ref)
            if tip is None:
                raise GitError(f"{path} has no commit at {ref}", kind="read")
            index = pygit2.Index()
            index.read_tree(tip.tree)
            return {entry.path: repo[entry.id].read_raw() for entry in index}
        finally:
            repo.free()


def _open(path: Path) -> pygit2.Repository:
    return pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)


def _signature(identity: Identity, when: datetime) -> pygit2.Signature:
    offset = when.utcoffset() or timedelta(0)
    return pygit2.Signature(
        identity.name, identity.email, int(when.timestamp()), int(offset.total_seconds() // 60)
    )


def _tip(repo: pygit2.Repository, ref: str) -> pygit2.Commit | None:
    if ref == "HEAD":
        return None if repo.head_is_unborn else repo.head.peel(pygit2.Commit)
    found = repo.references.get(ref)
    return None if found is None else found.peel(pygit2.Commit)


def _stage_blobs(repo: pygit2.Repository, index: pygit2.Index, changes: Changes) -> None:
    for name, data in changes.items():
        if data is None:
            _unstage(index, name)
        else:
            index.add(pygit2.IndexEntry(name, repo.create_blob(data), FileMode.BLOB))


def _stage_worktree(repo: pygit2.Repository, changes: Changes) -> pygit2.Oid:
    """Write ``changes`` in the working tree and the index (as ``git add``/``git rm``
    do); the tree of the index as it then is."""
    workdir = Path(repo.workdir)
    index: pygit2.Index = repo.index
    index.read()
    for name, data in changes.items():  # before anything is written
        if data is None:
            _unstage(index, name, check_only=True)
    for name, data in changes.items():
        target = workdir / name
        if data is None:
            _unstage(index, name)
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            index.add(name)
    index.write()
    return index.write_tree()


def _unstage(index: pygit2.Index, name: str, *, check_only: bool = False) -> None:
    if name not in index:
        raise GitError(f"cannot delete {name}: there is no such file", kind="commit")
    if not check_only:
        index.remove(name)
