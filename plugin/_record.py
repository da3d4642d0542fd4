"""A run of a runner, and the one definition of whether it succeeded.

A run **succeeded** when it produced a result whose branch is reconciled with every
needed push landed (``Result.ok``), or whose local commits were escaped to a
conflict branch that landed (the repository is usable again; the operator is told).
Everything else is a **failure**: no result (bad input, a lock that timed out), a
fetch that failed, a push that did not land, and ``blocked`` (nothing could be done
without a human). The failure streak, the ``consecutive_failures`` gauge, ``/status``
and the ``failing`` alert all read these two functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconcile import Outcome, Result, redact_text

__all__ = ["HISTORY_PAGE", "HookRun", "RunRecord", "failure_streak", "succeeded"]

HISTORY_PAGE = 50  # runs in one page of history, unless the caller asks for another number


def succeeded(result: Result | None) -> bool:
    """Whether a run with this result succeeded (see the module's docstring)."""
    if result is None:
        return False
    return result.ok or (result.outcome is Outcome.CONFLICT_ESCAPED and result.push.landed)


@dataclass(frozen=True)
class HookRun:
    """What the repository's ``exec_hook`` did after a run: ``status`` is ``ok`` (exit
    0), ``failed`` (another exit status, or it could not be started) or
    ``timed-out`` (killed at ``exec_hook_timeout``); ``output`` is the end of what it
    wrote (stdout and stderr), redacted."""

    status: str
    exit_code: int | None
    duration_ms: float
    error: str | None = None
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_ms": round(self.duration_ms, 3),
            "error": _masked(self.error),
            "output": redact_text(self.output),
        }


@dataclass
class RunRecord:
    """One run of a runner: why it ran, when, and what came of it."""

    run_id: str
    repo: str
    triggers: list[str]
    queued_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: Result | None = None
    error: str | None = None
    callback_error: str | None = None
    lock_wait_seconds: float = 0.0
    hook: HookRun | None = None
    replica: str | None = None  # the replica that ran it (its configured id)
    # The runner's failure streak before this run (the one counter there is): what
    # the alerts compare with the streak after it. Not part of the run's JSON form.
    failures_before: int = 0

    @property
    def succeeded(self) -> bool:
        """True when the run produced a result that succeeded."""
        return self.error is None and succeeded(self.result)

    @property
    def problem(self) -> str | None:
        """Why the run did not succeed, in one line; None when it did."""
        if self.succeeded:
            return None
        if self.error:
            return self.error
        if self.result is None:
            return "no result"
        return f"{self.result.outcome.value}: {self.result.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of a run: the one shape ``/history`` (from the audit store or
        from memory), ``/status``, ``/trigger?wait=true`` and ``history --json`` give.
        Credentials quoted in an error are masked, as the audit store masks them."""
        return {
            "run_id": self.run_id,
            "repo": self.repo,
            "triggers": list(self.triggers),
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": None if self.result is None else self.result.to_dict(),
            "error": _masked(self.error),
            "callback_error": _masked(self.callback_error),
            "lock_wait_seconds": round(self.lock_wait_seconds, 6),
            "hook": None if self.hook is None else self.hook.to_dict(),
            "replica": self.replica,
        }


def _masked(text: str | None) -> str | None:
    return None if text is None else redact_text(text)


def failure_streak(previous: int, record: RunRecord) -> int:
    """The failure streak after ``record``: 0 after a success, one more after anything
    else."""
    return 0 if record.succeeded else previous + 1
