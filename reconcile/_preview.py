"""``preview_commit``: the commit a run would make, made by nobody.

The committing step runs as far as the message (every guard, the generator or the
template), under the repository's lock and the index's, then lets go of both
having written nothing: no index, no commit, no ref; the hooks are not run (a
``pre-commit`` hook may rewrite files).
"""

from __future__ import annotations

from ._commit import CommitRequest
from ._committing import CommitPreview, commit_worktree
from ._errors import RepoLockTimeout
from ._lock import RepoLock
from ._spec import RepoSpec
from ._target import open_target

__all__ = ["CommitPreview", "preview_commit"]


def preview_commit(
    spec: RepoSpec, commit: CommitRequest | None = None, *, lock: bool = True
) -> CommitPreview:
    """What ``reconcile(spec, commit=commit)`` would commit (``commit`` None: a
    request with no message), writing nothing. Raises ``BadInputError`` as
    ``reconcile`` does; a commit that would be refused has its ``refusal``."""
    target = open_target(spec)
    held = RepoLock(target.repo.gitdir, spec.lock_timeout) if lock else None
    try:
        if held is not None:
            held.acquire()
    except RepoLockTimeout as exc:
        return CommitPreview(refusal=f"{exc}; run again when it is done")
    try:
        done = commit_worktree(target, commit or CommitRequest(), target.original, preview=True)
    finally:
        if held is not None:
            held.release()
    if done.preview is not None:
        return done.preview
    return CommitPreview(skipped_paths=done.skipped, refusal=done.refusal)
