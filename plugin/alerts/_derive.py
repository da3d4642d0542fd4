"""The alerts of a finished run: ``events_for(repo, record, streak)``, a pure function.

============================  =========  =============================================
kind                          severity   when
============================  =========  =============================================
``conflict-escaped``          critical   local commits were moved to ``conflicts/<UTC>``
``push-protected``            critical   a push was rejected as a protected branch
``blocked``                   warning    the run ended ``blocked`` (nothing changed)
``failing``                   warning    the N-th run in a row that failed (see
                                         ``plugin._record``: a fetch that failed, a push
                                         that did not land, ``blocked``, or no result);
                                         once per streak
``recovered``                 info       the first successful run after such a streak
``hook-failed``               warning    the repository's ``exec_hook`` failed or timed
                                         out after a run that moved the branch
============================  =========  =============================================

Whether a run succeeded, and so the streak, is ``plugin._record``'s to say; this
module only reads it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from reconcile import Outcome, PushStatus, Result

from .._record import RunRecord, failure_streak
from ._events import SEVERITY_OF, AlertDetails, AlertEvent, AlertKind
from ._hosts import HostKind, branch_url
from ._text import one_line, plural

__all__ = ["Streak", "events_for"]


@dataclass(frozen=True)
class Streak:
    """The failure streak around one run: its length ``before`` the run, ``after`` it,
    and the ``threshold`` at which ``failing`` is raised."""

    before: int
    after: int
    threshold: int

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"threshold: must be at least 1, not {self.threshold}")

    @classmethod
    def after_run(cls, before: int, record: RunRecord, threshold: int) -> Streak:
        """The streak once ``record`` is counted, by ``plugin._record.failure_streak``."""
        return cls(before, failure_streak(before, record), threshold)

    @property
    def reached(self) -> bool:
        """True when this run made the streak reach the threshold."""
        return self.before < self.threshold <= self.after

    @property
    def was_alerted(self) -> bool:
        """True when the streak before this run had reached the threshold."""
        return self.before >= self.threshold


@dataclass(frozen=True)
class _Run:
    """A finished run as the alerts see it: where, when, and the details they share."""

    repo: str
    record: RunRecord
    branch: str | None
    when: datetime
    details: AlertDetails

    @property
    def result(self) -> Result | None:
        return self.record.result

    @property
    def on(self) -> str:
        return self.branch or "the branch"

    def event(
        self, kind: AlertKind, summary: str, details: AlertDetails | None = None
    ) -> AlertEvent:
        return AlertEvent(
            kind=kind,
            severity=SEVERITY_OF[kind],
            repo=self.repo,
            branch=self.branch,
            time=self.when,
            summary=one_line(f"{self.repo}: {summary}"),
            details=self.details if details is None else details,
        )


def _details(record: RunRecord, streak: Streak) -> AlertDetails:
    common = AlertDetails(
        run_id=record.run_id,
        error=record.error,
        consecutive_failures=streak.after,
        failure_threshold=streak.threshold,
    )
    result = record.result
    if result is None:
        return common
    return replace(
        common,
        outcome=result.outcome.value,
        reason=result.reason or None,
        old_commit=result.old_commit,
        new_commit=result.new_commit,
        remote_commit=result.remote_commit,
        push_status=result.push.status.value,
        push_reason=result.push.reason,
        push_error=result.push.error,
    )


def _problem(record: RunRecord) -> str:
    """What went wrong in the last run of a streak, for the ``failing`` summary: more
    than ``RunRecord.problem`` says for a fetch or a push that failed."""
    result = record.result
    if record.error:
        return record.error
    if result is None:
        return "no result"
    if result.outcome is Outcome.FETCH_FAILED:
        return f"fetch failed: {result.reason}"
    if not result.push.landed:
        why = result.push.reason or result.push.status.value
        return f"push {result.push.status.value} ({why}): {result.push.error or result.reason}"
    return f"{result.outcome.value}: {result.reason}"


def _escaped(
    run: _Run, remote_url: str | None, hosts: Mapping[str, HostKind] | None
) -> AlertEvent | None:
    result = run.result
    if result is None or result.outcome is not Outcome.CONFLICT_ESCAPED:
        return None
    name = result.conflict_branch
    pushed = result.push.status is PushStatus.OK
    link = branch_url(remote_url, name, hosts) if name and remote_url and pushed else None
    count = len(result.escaped_commits)
    summary = (
        f"{plural(count, 'local commit')} on {run.on} conflicted with the remote and "
        f"{'was' if count == 1 else 'were'} moved to {name}"
    )
    if not pushed:
        summary += f" (kept locally only: push {result.push.status.value}"
        summary += f", {result.push.reason})" if result.push.reason else ")"
    details = replace(
        run.details,
        conflict_branch=name,
        conflict_branch_url=link,
        conflict_paths=result.conflict_paths,
        escaped_commits=result.escaped_commits,
    )
    return run.event("conflict-escaped", summary, details)


def _protected(run: _Run) -> AlertEvent | None:
    result = run.result
    if result is None or result.push.status is not PushStatus.REJECTED:
        return None
    if result.push.reason != "protected-branch":
        return None
    return run.event(
        "push-protected",
        f"the push to {run.on} was rejected: the branch is protected "
        f"({result.push.error or 'no message'})",
    )


def _blocked(run: _Run) -> AlertEvent | None:
    result = run.result
    if result is None or result.outcome is not Outcome.BLOCKED:
        return None
    return run.event("blocked", f"{run.on} is blocked: {result.reason}")


def _streak_event(run: _Run, streak: Streak) -> AlertEvent | None:
    if streak.reached:
        return run.event(
            "failing",
            f"{plural(streak.after, 'run')} in a row failed; the last: {_problem(run.record)}",
        )
    if streak.was_alerted and run.record.succeeded:
        return run.event(
            "recovered", f"{run.on} recovered after {plural(streak.before, 'failed run')}"
        )
    return None


def _hook_failed(run: _Run) -> AlertEvent | None:
    hook = run.record.hook
    if hook is None or hook.ok:
        return None
    last = hook.output.splitlines()[-1:] if hook.output else []
    said = f": {last[0]}" if last else ""
    details = replace(run.details, error=f"exec_hook {hook.status}: {hook.error}{said}")
    return run.event(
        "hook-failed",
        f"the exec_hook {hook.status} ({hook.error}) after {run.on} moved{said}",
        details,
    )


def events_for(
    repo: str,
    record: RunRecord,
    streak: Streak,
    *,
    branch: str | None = None,
    remote_url: str | None = None,
    hosts: Mapping[str, HostKind] | None = None,
) -> list[AlertEvent]:
    """The alerts of the finished run ``record`` of ``repo`` (its configured name),
    in the order of the table above.

    ``streak`` is the failure streak around the run (``Streak.after_run``): ``failing``
    is raised when it reaches its threshold and ``recovered`` when a run succeeds after
    a streak that had. ``branch`` names the branch when the run has no result;
    ``remote_url`` (already redacted) gives the conflict branch a link on GitHub,
    GitLab, Gitea or Bitbucket (``hosts`` maps other host names to one of those).
    """
    result = record.result
    finished = record.finished_at if record.finished_at is not None else time.time()
    run = _Run(
        repo=repo,
        record=record,
        branch=result.branch if result is not None else branch,
        when=datetime.fromtimestamp(finished, UTC),
        details=_details(record, streak),
    )
    found = (
        _escaped(run, remote_url, hosts),
        _protected(run),
        _blocked(run),
        _streak_event(run, streak),
        _hook_failed(run),
    )
    return [event for event in found if event is not None]
