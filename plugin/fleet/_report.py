"""What a cycle did: one ``RepoResult`` per repository, and the ``CycleReport``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from reconcile import LocalCommit, PushStatus, Result

__all__ = ["BAD", "CycleReport", "RepoResult", "RepoStatus"]

#: What became of a repository in a cycle.
#: ``unchanged``: nothing written since the last cycle and nothing ahead (not looked
#: at further); ``clean``: looked at, nothing to commit or push; ``committed``:
#: committed, not pushed (pushing is not this cycle's: see ``held``); ``pushed``:
#: committed or ahead, and reconciled with the push landed (or none needed);
#: ``refused``: the commit was refused (an unsafe state, a guard, a hook);
#: ``skipped``: no such remote or branch, or not a repository any more; ``failed``: the
#: reconcile did not end well, or an unexpected error; ``escaped``: local commits
#: that conflicted with the remote were pushed to a ``conflicts/`` branch (the run's
#: ``conflict_branch``) and the branch now matches the remote: nothing is lost, and
#: an operator merges them; ``held``: not pushed, because a commit of the cycle
#: failed under ``all-or-none``; ``disabled``: turned off.
RepoStatus = Literal[
    "unchanged",
    "clean",
    "committed",
    "pushed",
    "refused",
    "skipped",
    "failed",
    "escaped",
    "held",
    "disabled",
]
#: The statuses of a repository that did not end well (an escape needs an operator).
BAD: frozenset[str] = frozenset({"refused", "skipped", "failed", "escaped", "held"})


@dataclass
class RepoResult:
    """One repository's part of a cycle: phase 1's commit (``commit``, None when it was
    not committed) and phase 2's run (``run``, None when it was not reconciled), with
    the times each phase started and finished for it (Unix times)."""

    name: str
    path: str
    status: RepoStatus = "unchanged"
    branch: str | None = None
    reason: str | None = None
    commit: LocalCommit | None = None
    run: Result | None = None
    commit_started_at: float | None = None
    commit_finished_at: float | None = None
    push_started_at: float | None = None
    push_finished_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.status not in BAD

    @property
    def committed(self) -> bool:
        return self.commit is not None and self.commit.commit is not None

    @property
    def pushed(self) -> bool:
        return self.run is not None and self.run.push.status is PushStatus.OK

    def to_dict(self) -> dict[str, Any]:
        made = None if self.commit is None else self.commit.commit
        return {
            "name": self.name,
            "path": self.path,
            "branch": self.branch,
            "status": self.status,
            "ok": self.ok,
            "reason": self.reason,
            "commit": None if made is None else made.to_dict(),
            "skipped_paths": [] if self.commit is None else list(self.commit.skipped_paths),
            "run": None if self.run is None else self.run.to_dict(),
            "commit_started_at": self.commit_started_at,
            "commit_finished_at": self.commit_finished_at,
            "push_started_at": self.push_started_at,
            "push_finished_at": self.push_finished_at,
        }


@dataclass
class CycleReport:
    """One cycle: its id, what asked for it, the push policy, when it started, when
    phase 1 (commits) and phase 2 (pushes) finished, and every repository's result.
    ``held`` is true when ``all-or-none`` pushed nothing."""

    cycle_id: str
    trigger: str
    push_policy: str
    started_at: float
    results: list[RepoResult] = field(default_factory=list)
    commits_finished_at: float | None = None
    finished_at: float | None = None
    held: bool = False

    @property
    def committed(self) -> int:
        return sum(r.committed for r in self.results)

    @property
    def pushed(self) -> int:
        return sum(r.pushed for r in self.results)

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.results)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def duration_ms(self) -> float:
        end = self.finished_at if self.finished_at is not None else self.started_at
        return (end - self.started_at) * 1000.0

    def summary(self) -> dict[str, Any]:
        """The JSON of ``git-reconcile fleet --once --json``: these keys, and no others."""
        return {
            "cycle_id": self.cycle_id,
            "repos": len(self.results),
            "committed": self.committed,
            "pushed": self.pushed,
            "failed": self.failed,
            "results": [r.to_dict() for r in self.results],
            "duration_ms": round(self.duration_ms, 1),
        }

    def to_dict(self) -> dict[str, Any]:
        """The summary, with the trigger, the policy and each phase's times and results."""
        phase1 = [r.name for r in self.results if r.commit_started_at is not None]
        phase2 = [r.name for r in self.results if r.push_started_at is not None]
        return self.summary() | {
            "trigger": self.trigger,
            "push_policy": self.push_policy,
            "held": self.held,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "phases": {
                "commit": {"finished_at": self.commits_finished_at, "repos": phase1},
                "push": {"finished_at": self.finished_at, "repos": phase2},
            },
        }
