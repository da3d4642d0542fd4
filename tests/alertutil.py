"""What the alert tests share: finished runs (real escapes and blocked runs), a
stand-in runner, the alert counter, and an alerter sending for a while."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio
from builders import run_record
from gitutil import World

from plugin import RunRecord
from plugin._metrics import Metrics
from plugin.alerts import Alerter, AlertEvent, Streak, events_for
from reconcile import Outcome, Result, reconcile

__all__ = [
    "FINISHED",
    "GITHUB_REMOTE",
    "NO_STREAK",
    "SLACK_URL",
    "TIME",
    "Escape",
    "FakeRunner",
    "escape_event",
    "finished",
    "finished_at",
    "make_blocked",
    "make_escape",
    "sending",
    "sent",
]

SLACK_URL = "https://hooks.slack.com/services/T000/B000/s3cretpath"
GITHUB_REMOTE = "git@github.com:org/data.git"
FINISHED = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TIME = "2027-01-15T08:00:00Z"
#: No failure streak before or after the run, and the default threshold.
NO_STREAK = Streak(before=0, after=0, threshold=3)


def finished(result: Result | None, error: str | None = None, run_id: str = "data-1") -> RunRecord:
    """A finished run of the repository configured as ``data``."""
    return run_record(result, run_id=run_id, finished=FINISHED, took=1.0, waited=0.0, error=error)


def finished_at() -> datetime:
    """When the runs of ``finished`` finished."""
    return datetime.fromtimestamp(FINISHED, UTC)


@dataclass
class Escape:
    """A real conflict escape and the commits it involved."""

    app: Path
    result: Result
    local: str
    remote: str


def make_escape(world: World, name: str = "app") -> Escape:
    """Make the clone ``name`` conflict with the remote and reconcile it."""
    app = world.clone(name)
    remote = world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local = world.commit(app, {"data.txt": "local\n"}, "local edit")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED, result.reason
    return Escape(app, result, local, remote)


def escape_event(world: World, remote_url: str | None = GITHUB_REMOTE) -> AlertEvent:
    """The conflict-escaped event of a real escape, with a GitHub remote for links."""
    (event,) = events_for(
        "data", finished(make_escape(world).result), NO_STREAK, remote_url=remote_url
    )
    return event


def make_blocked(world: World) -> Result:
    """A real blocked run: an uncommitted change is in the way of the update."""
    app = world.clone("blocked")
    world.remote_commit({"data.txt": "moved on\n"}, "remote edit")
    (app / "data.txt").write_text("uncommitted\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    return result


class FakeRunner:
    """What ``Alerter.observe`` reads of a runner, without a repository behind it."""

    def __init__(self, name: str = "data", remote: str | None = GITHUB_REMOTE) -> None:
        self.name = name
        self.remote = remote

    def branch(self) -> str | None:
        return "main"

    def remote_url(self) -> str | None:
        return self.remote


def sent(metrics: Metrics, sink: str, result: str) -> float | None:
    """``git_reconcile_alerts_total{sink, result}``."""
    return metrics.registry.get_sample_value(
        "git_reconcile_alerts_total", {"sink": sink, "result": result}
    )


@asynccontextmanager
async def sending(alerter: Alerter) -> AsyncIterator[Alerter]:
    """Run the alerter's sender loop; on exit, drain the queues and stop it."""
    async with anyio.create_task_group() as group:
        await group.start(alerter.run)
        try:
            yield alerter
        finally:
            await alerter.aclose()
