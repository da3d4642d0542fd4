"""Whether a working tree has changes git would show: ``git status`` in one call."""

from __future__ import annotations

from pygit2.enums import FileStatus

from ._repo import GitRepo
from ._translate import translate

__all__ = ["STAGED", "worktree_dirty"]

#: The status flags of a path whose change is staged in the index.
STAGED = (
    FileStatus.INDEX_NEW
    | FileStatus.INDEX_MODIFIED
    | FileStatus.INDEX_DELETED
    | FileStatus.INDEX_RENAMED
    | FileStatus.INDEX_TYPECHANGE
)


def worktree_dirty(repo: GitRepo) -> bool:
    """True when the working tree or the index differs from HEAD (untracked files that
    ``.gitignore`` does not ignore count; ignored ones do not). A bare repository has
    no working tree, and is never dirty."""
    if repo.is_bare:
        return False
    with translate("status"):
        return bool(repo.raw.status(untracked_files="normal", ignored=False))
