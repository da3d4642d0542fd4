"""Conversions between the plugin's run records and the audit store's rows.

A run goes in as a ``RunRecord`` and comes back out as one, so the store answers in
the one run form, ``RunRecord.to_dict()``, as the in-memory history does. Free text
is masked (``reconcile.redact_text``) and capped on the way in; URLs are redacted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from reconcile import (
    CommitInfo,
    Identity,
    NetworkOperation,
    Outcome,
    PushResult,
    PushStatus,
    Result,
    redact_text,
    redact_url,
)

from .._commits import CommitEntry
from .._record import HookRun, RunRecord
from ._schema import GitOperation, ReconcileRun, RepoCommit

__all__ = [
    "aware",
    "clean",
    "commit_entry",
    "commit_row",
    "operation_rows",
    "run_record",
    "run_row",
    "utc",
]

_TEXT_LIMIT = 16_384  # characters kept of a free-text column (an error, a reason)


def utc(epoch: float | None) -> datetime | None:
    """The UTC datetime of a Unix time."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def aware(moment: datetime, name: str) -> datetime:
    """``moment``, refused (``ValueError`` naming ``name``) when it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment


def clean(value: str | None) -> str | None:
    """Mask credentials in a free text and cap its length."""
    if value is None:
        return None
    value = redact_text(value)
    if len(value) > _TEXT_LIMIT:
        value = value[: _TEXT_LIMIT - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return value


# --- into rows -------------------------------------------------------------------------


def run_row(record: RunRecord) -> ReconcileRun:
    """The row of a finished run (a run refused at shutdown ended when it was queued
    or started)."""
    finished = record.finished_at
    if finished is None:
        finished = record.started_at if record.started_at is not None else record.queued_at
    started = record.started_at
    triggers = [t for t in record.triggers if t]
    return ReconcileRun(
        run_id=record.run_id,
        repo=record.repo,
        trigger=triggers[0] if triggers else "unknown",
        triggers=",".join(triggers),
        queued_at=utc(record.queued_at),
        started_at=utc(started),
        finished_at=datetime.fromtimestamp(finished, UTC),
        duration_ms=None if started is None else max(0.0, (finished - started) * 1000.0),
        lock_wait_ms=record.lock_wait_seconds * 1000.0,
        error=clean(record.error),
        callback_error=clean(record.callback_error),
        replica=record.replica,
        **_result_columns(record.result),
        **_hook_columns(record.hook),
    )


def _hook_columns(hook: HookRun | None) -> dict[str, Any]:
    if hook is None:
        return {}
    return {
        "hook_status": hook.status,
        "hook_exit_code": hook.exit_code,
        "hook_duration_ms": hook.duration_ms,
        "hook_error": clean(hook.error),
        "hook_output": clean(hook.output),
    }


def _hook(row: ReconcileRun) -> HookRun | None:
    if row.hook_status is None:
        return None
    return HookRun(
        status=row.hook_status,
        exit_code=row.hook_exit_code,
        duration_ms=row.hook_duration_ms or 0.0,
        error=row.hook_error,
        output=row.hook_output or "",
    )


def _result_columns(result: Result | None) -> dict[str, Any]:
    if result is None:
        return {}
    return {
        "outcome": result.outcome.value,
        "repo_path": result.repo,
        "remote": result.remote,
        "branch": result.branch,
        "old_commit": result.old_commit,
        "new_commit": result.new_commit,
        "remote_commit": result.remote_commit,
        "ahead": result.ahead,
        "behind": result.behind,
        "conflict_branch": result.conflict_branch,
        "push_status": result.push.status.value,
        "push_attempts": result.push.attempts,
        "push_error": clean(result.push.error),
        "push_reason": result.push.reason,
        "reason": clean(result.reason),
        "reconcile_ms": result.duration_ms,
        "conflict_paths": list(result.conflict_paths),
        "escaped_commits": list(result.escaped_commits),
        "skipped_paths": list(result.skipped_paths),
    }


def commit_row(run_pk: int, record: RunRecord) -> RepoCommit | None:
    """The row of the commit a run made, if it made one."""
    result = record.result
    if result is None or result.commit is None:
        return None
    commit = result.commit
    finished = record.finished_at or record.started_at or record.queued_at
    return RepoCommit(
        run_pk=run_pk,
        run_id=record.run_id,
        repo=record.repo,
        branch=result.branch,
        sha=commit.sha,
        paths_count=len(commit.paths),
        paths=list(commit.paths),
        message=clean(commit.message),
        message_source=commit.message_source,
        author_name=commit.author.name,
        author_email=commit.author.email,
        committer_name=commit.committer.name,
        committer_email=commit.committer.email,
        signed=commit.signed,
        squashed=commit.squashed,
        created_at=datetime.fromtimestamp(finished, UTC),
        signature=commit.signature,
        message_skipped=clean(commit.message_skipped),
    )


def operation_rows(run_pk: int, operations: Iterable[NetworkOperation]) -> list[GitOperation]:
    """The rows of a run's network operations, in their order."""
    return [
        GitOperation(
            run_pk=run_pk,
            position=position,
            kind=op.kind,
            remote=op.remote,
            remote_url=redact_url(op.url),
            refs=list(op.refs),
            status=op.result,
            started_at=utc(op.started_at),
            duration_ms=op.duration_ms,
            attempts=op.attempts,
            bytes=op.bytes,
            objects=op.objects,
            error=clean(op.error),
            code=op.code,
        )
        for position, op in enumerate(operations)
    ]


# --- out of rows -----------------------------------------------------------------------


def _commit_info(row: RepoCommit) -> CommitInfo:
    return CommitInfo(
        sha=row.sha,
        paths=tuple(row.paths or ()),
        message=row.message or "",
        message_source=row.message_source,
        author=Identity(row.author_name, row.author_email),
        committer=Identity(row.committer_name, row.committer_email),
        signed=row.signed,
        squashed=row.squashed,
        signature=row.signature,
        message_skipped=row.message_skipped,
    )


def commit_entry(row: RepoCommit) -> CommitEntry:
    """The listed form of a commit's row."""
    info = _commit_info(row)
    return CommitEntry(
        sha=row.sha,
        repo=row.repo,
        run_id=row.run_id,
        branch=row.branch or "",
        paths=info.paths,
        message=info.message,
        message_source=info.message_source,
        author=str(info.author),
        committer=str(info.committer),
        signed=info.signed,
        squashed=info.squashed,
        created_at=row.created_at.timestamp(),
        signature=info.signature,
    )


def run_record(
    row: ReconcileRun, operations: Sequence[GitOperation], commit: RepoCommit | None = None
) -> RunRecord:
    """The run a row (and its operations' rows, and its commit's) stores."""
    return RunRecord(
        run_id=row.run_id,
        repo=row.repo,
        triggers=row.triggers.split(",") if row.triggers else [],
        queued_at=_epoch(row.queued_at) or _epoch(row.finished_at) or 0.0,
        started_at=_epoch(row.started_at),
        finished_at=_epoch(row.finished_at),
        result=_result(row, operations, commit),
        error=row.error,
        callback_error=row.callback_error,
        lock_wait_seconds=(row.lock_wait_ms or 0.0) / 1000.0,
        replica=row.replica,
        hook=_hook(row),
    )


def _result(
    row: ReconcileRun, operations: Sequence[GitOperation], commit: RepoCommit | None
) -> Result | None:
    if row.outcome is None:
        return None
    return Result(
        repo=row.repo_path or "",
        remote=row.remote or "",
        branch=row.branch or "",
        outcome=Outcome(row.outcome),
        old_commit=row.old_commit,
        new_commit=row.new_commit,
        remote_commit=row.remote_commit,
        ahead=row.ahead or 0,
        behind=row.behind or 0,
        conflict_branch=row.conflict_branch,
        push=PushResult(
            status=PushStatus(row.push_status or PushStatus.SKIPPED.value),
            attempts=row.push_attempts or 0,
            error=row.push_error,
            reason=row.push_reason,
        ),
        reason=row.reason or "",
        duration_ms=row.reconcile_ms or 0.0,
        conflict_paths=tuple(row.conflict_paths or ()),
        escaped_commits=tuple(row.escaped_commits or ()),
        operations=tuple(_operation(op) for op in operations),
        commit=None if commit is None else _commit_info(commit),
        skipped_paths=tuple(row.skipped_paths or ()),
    )


def _operation(row: GitOperation) -> NetworkOperation:
    return NetworkOperation(
        kind=row.kind,
        remote=row.remote or "",
        url=row.remote_url or "",
        refs=tuple(row.refs or ()),
        started_at=_epoch(row.started_at) or 0.0,
        duration_ms=row.duration_ms,
        attempts=row.attempts,
        bytes=row.bytes,
        objects=row.objects,
        result=row.status,
        error=row.error,
        code=row.code,
    )
