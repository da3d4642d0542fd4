"""Builders of the values tests hand to the plugin: finished run records."""

from __future__ import annotations

from collections.abc import Sequence

from plugin import RunRecord
from reconcile import Result

__all__ = ["run_record"]


def run_record(
    result: Result | None,
    *,
    repo: str = "data",
    run_id: str | None = None,
    triggers: Sequence[str] = ("poll",),
    finished: float = 1_800_000_000.0,
    took: float = 0.25,
    waited: float = 0.25,
    error: str | None = None,
    callback_error: str | None = None,
    lock_wait: float = 0.0,
) -> RunRecord:
    """A finished run of ``repo``: queued ``waited`` seconds before it started, started
    ``took`` seconds before ``finished``."""
    return RunRecord(
        run_id=run_id or f"{repo}-1",
        repo=repo,
        triggers=list(triggers),
        queued_at=finished - took - waited,
        started_at=finished - took,
        finished_at=finished,
        result=result,
        error=error,
        callback_error=callback_error,
        lock_wait_seconds=lock_wait,
    )
