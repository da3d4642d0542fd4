"""FleetService: the fleet as a long-running service, its cycles on a timer or on
trigger, one at a time, with what the routes read.

The timer runs a cycle every ``cycle_interval`` seconds while the daemon is enabled;
``trigger()`` runs one now (enabled or not), and a trigger while a cycle is queued
or running joins it (its id is answered) instead of doubling it. Discovery runs
before a cycle once ``discovery_interval`` has passed since the last. Cycles run in a
worker thread (the engine blocks); at shutdown the running cycle's network operations
are cancelled and it is waited for. Each finished cycle is recorded in the audit
store (when there is one), counted in the metrics and kept in memory for ``/status``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from reconcile import BadInputError, CancelToken, local_state

from ..audit import AuditStore
from ._audit import FleetAudit
from ._config import FleetConfig
from ._cycle import AlwaysOnce, CycleGate, Fleet, new_cycle_id
from ._metrics import FleetMetrics
from ._report import CycleReport
from ._state import FleetSettings

__all__ = ["STATE_KEY", "FleetService"]

#: The key of the service in the app's lifespan state (``request.state.fleet``).
STATE_KEY = "fleet"

logger = logging.getLogger("plugin.fleet")
_KEPT = 50  # cycles kept in memory, for /history without an audit store


class FleetService:
    """The fleet, served: ``async with service.running():`` while the app runs."""

    def __init__(
        self,
        config: FleetConfig,
        *,
        settings: FleetSettings | None = None,
        store: AuditStore | None = None,
        admin_token: str | None = None,
        admin_token_env: str | None = None,
        gate: CycleGate | None = None,
        metrics: FleetMetrics | None = None,
        retention_days: float = 30.0,
    ) -> None:
        self.config = config
        self.settings = settings or FleetSettings()
        self.audit = FleetAudit(store) if store is not None else None
        self.admin_token = admin_token
        self.admin_token_env = admin_token_env
        self.metrics = metrics or FleetMetrics()
        self.fleet = Fleet(config, gate=gate or AlwaysOnce())
        self.retention = timedelta(days=retention_days)
        self.last: CycleReport | None = None
        self.kept: deque[CycleReport] = deque(maxlen=_KEPT)
        self.running_id: str | None = None
        self.queued_id: str | None = None
        self.next_at: float | None = None
        self.cancel = CancelToken()
        self._wake = anyio.Event()
        self._finished: dict[str, anyio.Event] = {}
        self.cycles_done = 0
        self._done = anyio.Event()

    # --- steering -----------------------------------------------------------------------

    def trigger(self) -> tuple[str, bool]:
        """Ask for a cycle now: its id, and whether it joined one queued or running."""
        for joined in (self.queued_id, self.running_id):
            if joined is not None:
                return joined, True
        self.queued_id = new_cycle_id()
        self._finished[self.queued_id] = anyio.Event()
        self._wake.set()
        return self.queued_id, False

    async def finished(self, cycle_id: str) -> None:
        """Wait until the cycle ``cycle_id`` (from ``trigger``) has finished."""
        event = self._finished.get(cycle_id)
        if event is not None:
            await event.wait()

    async def cycles(self, count: int) -> CycleReport | None:
        """Wait until ``count`` cycles have finished since the service started; the last."""
        while self.cycles_done < count:
            await self._done.wait()
        return self.last

    def set_enabled(self, enabled: bool, repo: str | None = None) -> str | None:
        """Enable or disable the daemon, or one repository (its name or path); the
        repository's real path, or None for the daemon. Raises ``KeyError`` for an
        unknown repository."""
        if repo is None:
            self.settings.set_enabled(enabled)
            self._wake.set()
            return None
        found = self.fleet.by_name(repo)
        if found is None:
            raise KeyError(repo)
        self.settings.set_repo(str(found.path), enabled)
        return str(found.path)

    # --- running ------------------------------------------------------------------------

    def lifespan(self) -> Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]:
        """A lifespan for an app serving the fleet's routes: the service runs while the
        app does, and the app's state holds it under ``STATE_KEY`` (``ReconcilePlugin.
        lifespan(service.lifespan())`` runs it beside the plugin)."""

        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
            async with self.running():
                yield {STATE_KEY: self}

        return lifespan

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FleetService]:
        """Discover, then run cycles until the block ends; then stop the running cycle's
        network work and wait for it."""
        await anyio.to_thread.run_sync(self.fleet.discover)
        async with anyio.create_task_group() as group:
            group.start_soon(self._loop, group)
            try:
                yield self
            finally:
                self.cancel.cancel()
                group.cancel_scope.cancel()

    async def _loop(self, group: TaskGroup) -> None:
        self.next_at = time.time()
        while True:
            wait = max(0.0, (self.next_at or 0) - time.time())
            with anyio.move_on_after(wait):
                await self._wake.wait()
            self._wake = anyio.Event()
            if self.queued_id is not None:
                cycle_id, trigger = self.queued_id, "manual"
            elif time.time() >= (self.next_at or 0) and self.settings.enabled:
                cycle_id, trigger = new_cycle_id(), "timer"
            else:
                if time.time() >= (self.next_at or 0):
                    self.next_at = time.time() + self.config.cycle_interval
                continue
            with anyio.CancelScope(shield=True):
                await self._run(cycle_id, trigger)
            self.next_at = time.time() + self.config.cycle_interval

    async def _run(self, cycle_id: str, trigger: str) -> None:
        self.running_id, self.queued_id = cycle_id, None
        try:
            if (
                self.fleet.discovered_at is None
                or time.time() - self.fleet.discovered_at >= self.config.discovery_interval
            ):
                await anyio.to_thread.run_sync(self.fleet.discover)
            disabled = frozenset(Path(p) for p in self.settings.disabled)
            report = await anyio.to_thread.run_sync(
                lambda: self.fleet.cycle(
                    cycle_id, trigger=trigger, disabled=disabled, cancel=self.cancel
                )
            )
            if report is not None:
                await self._finish(report)
        except Exception:
            logger.exception("fleet: cycle %s failed", cycle_id)
        finally:
            self.running_id = None
            event = self._finished.pop(cycle_id, None)
            if event is not None:
                event.set()

    async def _finish(self, report: CycleReport) -> None:
        self.last = report
        self.kept.append(report)
        self.cycles_done += 1
        self._done.set()
        self._done = anyio.Event()
        self.metrics.observe(report)
        logger.info(
            "fleet: %s: %d repositories, %d committed, %d pushed, %d failed",
            report.cycle_id,
            len(report.results),
            report.committed,
            report.pushed,
            report.failed,
        )
        audit = self.audit
        if audit is not None:
            try:
                await anyio.to_thread.run_sync(audit.record, report)
                older = datetime.now(UTC) - self.retention
                await anyio.to_thread.run_sync(audit.prune, older)
            except Exception:
                logger.exception("fleet: cycle %s could not be recorded", report.cycle_id)

    # --- what the routes read -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.enabled,
            "running": self.running_id is not None,
            "running_cycle": self.running_id,
            "queued_cycle": self.queued_id,
            "repos": len(self.fleet.repos),
            "disabled_repos": sorted(self.settings.disabled),
            "base_path_problems": [{"base": b, "problem": p} for b, p in self.fleet.problems],
            "last_cycle": None if self.last is None else self.last.to_dict(),
            "next_cycle_at": self.next_at if self.settings.enabled else None,
        }

    def repos(self) -> list[dict[str, Any]]:
        """Each repository found, with its state now: disabled, error (its last cycle did
        not end well, or it cannot be read), dirty, ahead, behind (as last fetched) or
        clean. Blocks: call it in a worker thread."""
        last: Mapping[str, Any] = {}
        if self.last is not None:
            last = {r.path: r for r in self.last.results}
        found = []
        for repo in list(self.fleet.repos.values()):
            entry: dict[str, Any] = {"name": repo.name, "path": str(repo.path), "branch": None}
            previous = last.get(str(repo.path))
            entry |= self._state_of(repo.path, repo.name, previous)
            found.append(entry)
        return found

    def _state_of(self, path: Path, name: str, previous: Any) -> dict[str, Any]:
        if str(path) in self.settings.disabled or not self.config.enabled_for(path):
            return {"state": "disabled"}
        try:
            state = local_state(self.config.spec_for(path, name))
        except (BadInputError, OSError) as exc:
            return {"state": "error", "reason": str(exc)}
        except Exception as exc:  # an unreadable repository is its own state
            return {"state": "error", "reason": f"{type(exc).__name__}: {exc}"}
        info: dict[str, Any] = {"branch": state.branch, "ahead": state.ahead}
        info["behind"] = state.behind
        if previous is not None and not previous.ok:
            return info | {"state": "error", "reason": previous.reason}
        if state.dirty:
            return info | {"state": "dirty"}
        if state.ahead:
            return info | {"state": "ahead"}
        return info | {"state": "behind" if state.behind else "clean"}

    def history(self, limit: int, before: str | None) -> list[dict[str, Any]]:
        """The cycles, newest first: from the audit store, else from memory. Blocks."""
        if self.audit is not None:
            return self.audit.history(limit, before)
        kept = [r.to_dict() for r in reversed(self.kept)]
        if before is not None:
            ids = [c["cycle_id"] for c in kept]
            kept = kept[ids.index(before) + 1 :] if before in ids else []
        return kept[:limit]
