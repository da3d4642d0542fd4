"""The fleet's rows in the audit store: each cycle, and each repository's part of it.

Only the repositories that did something in a cycle, or did not end well, get a row
(``unchanged`` and ``clean`` ones are counted in the cycle's row): an idle cycle over
a thousand repositories writes one row. Free text goes through
``reconcile.redact_text`` on the way in. Synchronous, as the store is: the service
calls it through ``anyio.to_thread``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from migrations.models import FleetCycle, FleetRepoResult
from reconcile import redact_text

from ..audit import AuditStore
from ._report import CycleReport, RepoResult

__all__ = ["HISTORY_LIMIT", "FleetAudit"]

HISTORY_LIMIT = 1000
_QUIET = frozenset({"unchanged", "clean", "disabled"})


def _when(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def _stamp(when: datetime | None) -> float | None:
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _repo_row(cycle_pk: int, cycle_id: str, result: RepoResult) -> FleetRepoResult:
    made = None if result.commit is None else result.commit.commit
    run = result.run
    return FleetRepoResult(
        cycle_pk=cycle_pk,
        cycle_id=cycle_id,
        repo=result.name,
        path=result.path,
        branch=result.branch,
        status=result.status,
        reason=None if result.reason is None else redact_text(result.reason)[:4000],
        sha=None if made is None else made.sha,
        paths=None if made is None else list(made.paths),
        message=None if made is None else made.message,
        message_source=None if made is None else made.message_source,
        outcome=None if run is None else run.outcome.value,
        push_status=None if run is None else run.push.status.value,
        commit_started_at=_when(result.commit_started_at),
        commit_finished_at=_when(result.commit_finished_at),
        push_started_at=_when(result.push_started_at),
        push_finished_at=_when(result.push_finished_at),
    )


def _repo_dict(row: FleetRepoResult) -> dict[str, Any]:
    return {
        "repo": row.repo,
        "path": row.path,
        "branch": row.branch,
        "status": row.status,
        "reason": row.reason,
        "commit": None
        if row.sha is None
        else {
            "sha": row.sha,
            "paths": row.paths or [],
            "message": row.message,
            "message_source": row.message_source,
        },
        "outcome": row.outcome,
        "push_status": row.push_status,
        "commit_started_at": _stamp(row.commit_started_at),
        "commit_finished_at": _stamp(row.commit_finished_at),
        "push_started_at": _stamp(row.push_started_at),
        "push_finished_at": _stamp(row.push_finished_at),
    }


class FleetAudit:
    """The fleet's tables of ``store`` (migrated: revision 0006)."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def record(self, report: CycleReport) -> None:
        """Store a finished cycle and the results worth keeping, in one transaction."""
        cycle = FleetCycle(
            cycle_id=report.cycle_id,
            trigger=report.trigger,
            push_policy=report.push_policy,
            started_at=_when(report.started_at) or datetime.now(UTC),
            commits_finished_at=_when(report.commits_finished_at),
            finished_at=_when(report.finished_at),
            duration_ms=report.duration_ms,
            repos=len(report.results),
            committed=report.committed,
            pushed=report.pushed,
            failed=report.failed,
            held=report.held,
        )
        with Session(self.store.engine) as session:
            session.add(cycle)
            session.flush()
            assert cycle.id is not None
            for result in report.results:
                if result.status not in _QUIET:
                    session.add(_repo_row(cycle.id, report.cycle_id, result))
            session.commit()

    def history(self, limit: int = 50, before: str | None = None) -> list[dict[str, Any]]:
        """The cycles, newest first, each with the repositories' rows (the commits it
        made among them); ``before`` a cycle id: only older ones."""
        with Session(self.store.engine) as session:
            query = select(FleetCycle).order_by(col(FleetCycle.id).desc())
            if before is not None:
                mark = session.exec(
                    select(FleetCycle.id).where(FleetCycle.cycle_id == before)
                ).first()
                if mark is None:
                    return []
                query = query.where(col(FleetCycle.id) < mark)
            cycles = list(session.exec(query.limit(min(max(limit, 1), HISTORY_LIMIT))))
            ids = [c.id for c in cycles]
            rows = session.exec(
                select(FleetRepoResult)
                .where(col(FleetRepoResult.cycle_pk).in_(ids))
                .order_by(col(FleetRepoResult.id))
            )
            by_cycle: dict[int, list[dict[str, Any]]] = {}
            for row in rows:
                by_cycle.setdefault(row.cycle_pk, []).append(_repo_dict(row))
        return [_cycle_dict(c, by_cycle.get(c.id or 0, [])) for c in cycles]

    def prune(self, older_than: datetime) -> int:
        """Delete the cycles that started before ``older_than`` (their rows with them)."""
        with Session(self.store.engine) as session:
            old = [
                c.id
                for c in session.exec(select(FleetCycle).where(FleetCycle.started_at < older_than))
            ]
            if not old:
                return 0
            session.exec(delete(FleetRepoResult).where(col(FleetRepoResult.cycle_pk).in_(old)))
            session.exec(delete(FleetCycle).where(col(FleetCycle.id).in_(old)))
            session.commit()
            return len(old)


def _cycle_dict(cycle: FleetCycle, repos: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cycle_id": cycle.cycle_id,
        "trigger": cycle.trigger,
        "push_policy": cycle.push_policy,
        "started_at": _stamp(cycle.started_at),
        "commits_finished_at": _stamp(cycle.commits_finished_at),
        "finished_at": _stamp(cycle.finished_at),
        "duration_ms": cycle.duration_ms,
        "repos": cycle.repos,
        "committed": cycle.committed,
        "pushed": cycle.pushed,
        "failed": cycle.failed,
        "held": cycle.held,
        "results": repos,
    }
