"""What a reconcile run did: the outcome and everything an operator needs to know."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ._commit import CommitInfo

__all__ = ["NetworkOperation", "Outcome", "PushResult", "PushStatus", "Result"]


class Outcome(enum.Enum):
    """The seven ways a run can end. The values are part of the public contract."""

    IN_SYNC = "in-sync"
    FAST_FORWARDED = "fast-forwarded"
    PUSHED_AHEAD = "pushed-ahead"
    REBASED = "rebased"
    CONFLICT_ESCAPED = "conflict-escaped"
    FETCH_FAILED = "fetch-failed"
    BLOCKED = "blocked"

    def __str__(self) -> str:
        return self.value


class PushStatus(enum.Enum):
    """Whether the push of a run landed."""

    OK = "ok"  # the server accepted every ref
    FAILED = "failed"  # the push could not be made (network, timeout, auth)
    REJECTED = "rejected"  # the server answered and refused a ref
    SKIPPED = "skipped"  # nothing to push, or pushing was turned off

    def __str__(self) -> str:
        return self.value


# PushResult.reason when the remote moved under the push (its compare-and-swap, or
# the lease, refused it): the run fetches again and decides again.
REMOTE_MOVED = "non-fast-forward"
# PushResult.reason when the run's guard lost its lock before the push: nothing sent.
LOCK_LOST = "lock-lost"


@dataclass(frozen=True)
class PushResult:
    """The push of a run: its status, how many attempts it took, and the error.

    ``reason`` is a short code for a push that did not land: ``protected-branch``,
    ``hook-declined``, ``non-fast-forward`` (the remote kept moving), ``rejected``,
    ``lock-lost`` (the run's guard lost its lock first: nothing was sent), or the
    network error's code (``timeout``, ``auth``, ``connection``, ...).
    """

    status: PushStatus = PushStatus.SKIPPED
    attempts: int = 0
    error: str | None = None
    reason: str | None = None

    @property
    def landed(self) -> bool:
        """True unless a push was needed and did not land."""
        return self.status in (PushStatus.OK, PushStatus.SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "attempts": self.attempts,
            "error": self.error,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class NetworkOperation:
    """A record of one network operation of a run, retries included.

    ``kind`` is ``fetch`` or ``push``; ``result`` is ``ok``, ``rejected`` (the
    server answered no), ``failed`` or ``cancelled``; ``code`` classifies a failure.
    """

    kind: str
    remote: str
    url: str
    refs: tuple[str, ...]
    started_at: float
    duration_ms: float
    attempts: int
    bytes: int
    objects: int
    result: str
    error: str | None = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remote": self.remote,
            "url": self.url,
            "refs": list(self.refs),
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 3),
            "attempts": self.attempts,
            "bytes": self.bytes,
            "objects": self.objects,
            "result": self.result,
            "error": self.error,
            "code": self.code,
        }


@dataclass(frozen=True)
class Result:
    """The result of one run. Commits are full hex ids, or None where there is none.
    ``commit`` is the commit a run asked to commit made (None when there was nothing
    to commit, or the run was not asked to), and ``skipped_paths`` the changes the
    commit left out because they match ``exclude``."""

    repo: str
    remote: str
    branch: str
    outcome: Outcome
    old_commit: str | None = None
    new_commit: str | None = None
    remote_commit: str | None = None
    ahead: int = 0
    behind: int = 0
    conflict_branch: str | None = None
    push: PushResult = field(default_factory=PushResult)
    reason: str = ""
    duration_ms: float = 0.0
    conflict_paths: tuple[str, ...] = ()
    escaped_commits: tuple[str, ...] = ()
    operations: tuple[NetworkOperation, ...] = ()
    commit: CommitInfo | None = None  # the commit a commit run made (None: none)
    skipped_paths: tuple[str, ...] = ()  # changes the exclude globs left out of it

    @property
    def ok(self) -> bool:
        """True when the repo is reconciled and every needed push landed."""
        return (
            self.outcome
            in (Outcome.IN_SYNC, Outcome.FAST_FORWARDED, Outcome.PUSHED_AHEAD, Outcome.REBASED)
            and self.push.landed
        )

    @property
    def changed(self) -> bool:
        """True when the local branch now points at another commit."""
        return self.old_commit != self.new_commit

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``git-reconcile run --json``."""
        return {
            "repo": self.repo,
            "remote": self.remote,
            "branch": self.branch,
            "outcome": self.outcome.value,
            "old_commit": self.old_commit,
            "new_commit": self.new_commit,
            "remote_commit": self.remote_commit,
            "ahead": self.ahead,
            "behind": self.behind,
            "conflict_branch": self.conflict_branch,
            "push": self.push.to_dict(),
            "reason": self.reason,
            "duration_ms": round(self.duration_ms, 3),
            "conflict_paths": list(self.conflict_paths),
            "escaped_commits": list(self.escaped_commits),
            "operations": [op.to_dict() for op in self.operations],
            "commit": None if self.commit is None else self.commit.to_dict(),
            "skipped_paths": list(self.skipped_paths),
        }
