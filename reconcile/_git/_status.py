"""Whether a working tree has changes git would show: ``git status`` in one call."""

from __future__ import annotations

from ._repo import GitRepo
from ._translate import translate

__all__ = ["worktree_dirty"]


def worktree_dirty(repo: GitRepo) -> bool:
    """True when the working tree or the index differs from HEAD (untracked files that
    ``.gitignore`` does not ignore count; ignored ones do not). A bare repository has
    no working tree, and is never dirty."""
    if repo.is_bare:
        return False
    with translate("status"):
        return bool(repo.raw.status(untracked_files="normal", ignored=False))
