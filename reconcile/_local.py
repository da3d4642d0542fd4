"""A repository's local side, without the network: what it holds (``local_state``),
and its working tree committed without reconciling (``commit_only``).

Both serve callers that handle many repositories and split the work in phases (fleet
mode: every repository committed first, pushed later). ``commit_only`` runs the same
steps a run asked to commit runs first (``inspecting``, then ``committing``: the
same checks, guards, hooks, messages and lock), and stops before ``fetching``; a
later ``reconcile()`` pushes what it committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ._commit import CommitInfo, CommitRequest
from ._control import CancelToken
from ._engine import run_lock
from ._facts import Facts
from ._git import GitRepo, worktree_dirty
from ._redact import redact_url
from ._spec import RepoSpec
from ._steps import Steps
from ._target import open_target

__all__ = ["LocalCommit", "LocalState", "commit_only", "local_state"]


@dataclass(frozen=True)
class LocalState:
    """What a repository says of itself, as last fetched: its branch and tip, the
    remote-tracking tip (``refs/remotes/<remote>/<branch>``), how far the branch is
    ahead of and behind it, and whether the working tree has changes (None: not
    looked at)."""

    path: str
    branch: str | None
    head: str | None
    tracking: str | None
    ahead: int
    behind: int
    dirty: bool | None
    remote_url: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "branch": self.branch,
            "head": self.head,
            "tracking": self.tracking,
            "ahead": self.ahead,
            "behind": self.behind,
            "dirty": self.dirty,
            "remote_url": self.remote_url,
        }


def local_state(spec: RepoSpec, *, dirty: bool = True) -> LocalState:
    """The local state of ``spec``'s repository: no network, no lock, nothing written.
    Raises ``BadInputError`` as ``reconcile()`` does for the path, remote and branch.
    With ``dirty=False`` the working tree is not looked at (``dirty`` is None)."""
    target = open_target(spec)
    repo, branch = target.repo, target.branch or None
    head = target.original
    tracking = repo.ref_target(f"refs/remotes/{spec.remote}/{branch}") if branch else None
    ahead, behind = _distance(repo, head, tracking)
    return LocalState(
        path=str(target.path),
        branch=branch,
        head=head,
        tracking=tracking,
        ahead=ahead,
        behind=behind,
        dirty=worktree_dirty(repo) if dirty else None,
        remote_url=redact_url(target.remote.url),
    )


def _distance(repo: GitRepo, head: str | None, tracking: str | None) -> tuple[int, int]:
    if head is None:
        return 0, 0
    if tracking is None:
        return len(repo.commits_not_in(head, None)), 0
    if head == tracking:
        return 0, 0
    return repo.ahead_behind(head, tracking)


@dataclass(frozen=True)
class LocalCommit:
    """What ``commit_only`` did: the commit (None: nothing to commit, or refused), the
    paths ``exclude`` left out, why nothing was committed when it was refused (an
    unsafe state, a guard, a hook: None when it was not), what the step did in words,
    and how long it took."""

    path: str
    branch: str | None
    commit: CommitInfo | None
    skipped_paths: tuple[str, ...]
    refused: str | None
    reason: str
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.refused is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "branch": self.branch,
            "commit": None if self.commit is None else self.commit.to_dict(),
            "skipped_paths": list(self.skipped_paths),
            "refused": self.refused,
            "reason": self.reason,
            "duration_ms": self.duration_ms,
        }


def commit_only(
    spec: RepoSpec, request: CommitRequest, *, cancel: CancelToken | None = None
) -> LocalCommit:
    """Commit the working tree of ``spec``'s repository as ``request`` asks, under the
    repository's lock, and reconcile nothing: no fetch, no push. Raises
    ``BadInputError`` as ``reconcile()`` does; a refusal (an unsafe state, a guard, a
    hook) is ``LocalCommit.refused``, with nothing written."""
    started = time.monotonic()
    target = open_target(spec, cancel)
    facts = Facts(
        branch=target.branch,
        remote=spec.remote,
        max_rounds=spec.max_rounds,
        local=target.original,
        commit_wanted=True,
    )
    steps = Steps(target, facts, request)
    with run_lock(steps, spec.lock_timeout, cancel):
        _steps(steps)
    found = steps.facts
    refused = found.unsafe or found.commit_refusal
    note = found.commit_note or ("nothing to commit" if found.commit is None else "committed")
    return LocalCommit(
        path=str(target.path),
        branch=target.branch or None,
        commit=found.commit,
        skipped_paths=found.skipped_paths,
        refused=refused,
        reason=refused if refused is not None else note,
        duration_ms=(time.monotonic() - started) * 1000.0,
    )


def _steps(steps: Steps) -> None:
    """The run's first two steps, as the table orders them: inspect, then commit
    unless the repository is unsafe."""
    steps.inspect()
    if steps.facts.unsafe is None:
        steps.commit()
