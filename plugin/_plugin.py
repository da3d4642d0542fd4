"""The plugin: runners for the configured repositories, the lifespan that boots and
polls them and puts the plugin in the app's state, and the routes that report on and
trigger them (``_routes.py``, which read the plugin from that state). The
application's side of the write path is here too: ``commit()`` now, and
``notify_changed()`` debounced (``_debounce``), fed by a watcher when configured."""

from __future__ import annotations

import functools
import hmac
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from starlette.routing import BaseRoute, Mount

from reconcile import (
    CommitRequest,
    Identity,
    ReconcileError,
    Trailer,
    commit_reachable,
    ensure_clone,
    parse_trailer,
)
from webhooks import DeliveryCache

from ._config import PluginConfig
from ._debounce import Debouncer
from ._errors import BootFailed
from ._metrics import Metrics
from ._notify import Notifier
from ._record import RunRecord
from ._routes import routes as _routes
from ._runner import OnReconciled, Runner, Ticket
from ._view import STATE_KEY, PluginView
from .alerts import DRAIN_TIMEOUT, Alerter
from .replicas import Replicas, Trigger

if TYPE_CHECKING:
    from .audit import AuditStore

__all__ = ["BootFailed", "HostLifespan", "Lifespan", "ReconcilePlugin"]

logger = logging.getLogger("plugin")

HostLifespan = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]
Lifespan = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any]]]


class ReconcilePlugin:
    """Keeps the configured repositories reconciled inside a Starlette or FastAPI app.

    Use ``lifespan()`` as (or around) the app's lifespan, and mount ``routes()``
    under any prefix. ``on_reconciled(result)`` (sync or async) runs under the
    repository's lock whenever a run moved the local branch, so the app can rebuild
    its state from exactly the tree on disk.
    """

    def __init__(
        self,
        config: PluginConfig,
        *,
        on_reconciled: OnReconciled | None = None,
        metrics: Metrics | None = None,
        alerter: Alerter | None = None,
    ) -> None:
        self.config = config
        self.history: deque[RunRecord] = deque(maxlen=config.history_size)
        self.metrics = metrics if metrics is not None else Metrics()
        self.replicas = Replicas(
            config.coordination_url,
            replica_id=config.replica_id,
            session_timeout=config.lock_session_timeout,
        )
        self.runners: dict[str, Runner] = {
            repo.name: Runner(
                repo,
                on_reconciled,
                self.history,
                replica_id=self.replicas.replica_id,
                shared_lock=self.replicas.repository_lock(repo.name),
            )
            for repo in config.repos
        }
        self.alerter = alerter
        if alerter is None and config.alerts is not None and config.alerts.sinks:
            self.alerter = Alerter.from_config(
                config.alerts,
                metrics=self.metrics,
                drain_timeout=min(DRAIN_TIMEOUT, config.shutdown_timeout),
            )
        self.notifier: Notifier | None = None
        if any(repo.notify_url for repo in config.repos):
            self.notifier = Notifier(
                config.repos,
                metrics=self.metrics,
                drain_timeout=min(5.0, config.shutdown_timeout),
            )
        for runner in self.runners.values():
            runner.observers.append(self._measure)
            if self.alerter is not None:
                runner.observers.append(self.alerter.observe)
            if self.notifier is not None:
                runner.observers.append(self.notifier.observe)
        self.debouncers: dict[str, Debouncer] = {
            name: Debouncer(
                runner.config.commit_quiet_period,
                runner.config.commit_max_wait,
                functools.partial(self._debounced, runner),
            )
            for name, runner in self.runners.items()
        }
        self.deliveries = DeliveryCache(ttl=config.delivery_ttl)
        self.store: AuditStore | None = None
        if config.database_url:
            # sqlalchemy and alembic load only when a store is configured.
            from .audit import AuditStore  # noqa: PLC0415

            self.store = AuditStore(config.database_url)
            for runner in self.runners.values():
                runner.observers.append(self._persist)
        self.booted = False
        self.boot_errors: dict[str, str] = {}

    async def _persist(self, runner: Runner, record: RunRecord) -> None:
        assert self.store is not None
        await anyio.to_thread.run_sync(self.store.record_run, record)

    async def _prune(self) -> None:
        """Keep ``retention_days`` of history: prune now, then every hour; on one
        replica at a time (the others find the lock taken and skip that hour)."""
        store = self.store
        assert store is not None
        while True:
            cutoff = datetime.now(UTC) - timedelta(days=self.config.retention_days)
            try:
                async with self.replicas.exclusive("prune") as once:
                    removed = (
                        await anyio.to_thread.run_sync(store.prune, cutoff) if once.held else 0
                    )
            except Exception:
                logger.exception("pruning the audit store failed")
            else:
                if removed:
                    logger.info("pruned %d audit rows older than %s", removed, cutoff)
            await anyio.sleep(3600)

    # --- the other replicas -----------------------------------------------------------

    def _heard(self, trigger: Trigger) -> None:
        """Another replica received a trigger: run the repository here too (unless it
        is not configured here, is disabled, or already has the commit)."""
        runner = self.runners.get(trigger.repo)
        if runner is None or runner.closed or not runner.enabled:
            return
        branch = runner.branch()
        path = runner.spec.resolved_path
        if trigger.commit and branch and commit_reachable(path, branch, trigger.commit):
            return
        ticket = runner.trigger("replica")
        logger.info(
            "%s: replica %s received a %s trigger (%s): run %s",
            runner.name,
            trigger.replica,
            trigger.kind,
            trigger.trigger_id,
            ticket.run_id,
        )

    def _catch_up(self) -> None:
        """Listening again after a lost connection: the triggers sent meanwhile are
        gone, so every repository runs once."""
        for runner in self.runners.values():
            if runner.enabled and not runner.closed:
                runner.trigger("catch-up")

    async def publish(self, repo: str, commit: str | None, trigger_id: str, kind: str) -> None:
        """Tell the other replicas of a trigger received here; a failure is logged."""
        if not self.replicas.coordinated:
            return
        try:
            await anyio.to_thread.run_sync(self.replicas.publish, repo, commit, trigger_id, kind)
        except Exception:
            logger.exception("telling the other replicas of a %s trigger of %s failed", kind, repo)

    def _measure(self, runner: Runner, record: RunRecord) -> None:
        self.metrics.observe_lock_wait(runner.name, record.lock_wait_seconds)
        self.metrics.observe_run(
            runner.name, record, runner.consecutive_failures, runner.last_success
        )
        if record.hook is not None:
            self.metrics.observe_hook(runner.name, record.hook.status)

    # --- state ------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the boot reconcile finished (and, with the ``not-ready`` policy,
        once every repository has had a successful run)."""
        if not self.booted:
            return False
        if self.config.boot_policy == "not-ready":
            return all(r.last_success is not None for r in self.runners.values())
        return True

    def runner(self, name: str | None) -> Runner | None:
        """The runner named ``name``; with no name, the only runner (if just one)."""
        if name is None:
            return next(iter(self.runners.values())) if len(self.runners) == 1 else None
        return self.runners.get(name)

    async def wait_for(self, run_id: str) -> RunRecord | None:
        """Wait for the run ``run_id`` (as returned by a trigger or webhook) to finish."""
        for runner in self.runners.values():
            if run_id in runner.tickets:
                return await runner.wait_for(run_id)
        return None

    # --- the write path -----------------------------------------------------------

    def _named(self, repo: str | None) -> Runner:
        runner = self.runner(repo)
        if runner is None:
            raise LookupError(
                f"no repository {repo!r} (configured: {', '.join(sorted(self.runners))})"
            )
        return runner

    def commit(
        self,
        repo: str | None = None,
        message: str | None = None,
        *,
        paths: Iterable[str] | None = None,
        author: Identity | str | None = None,
        co_authors: Iterable[Identity | str] = (),
        trailers: Iterable[Trailer | str] = (),
    ) -> Ticket:
        """Commit the working tree of ``repo`` now (``message`` None: the policy's
        generator or template writes it), then reconcile, through its runner: the
        ticket of the run that covers it. Identities may be ``"Name <email>"``,
        trailers ``"Key: value"``. Raises ``LookupError`` for an unknown repository
        and ``reconcile.InvalidSpecError`` for a malformed request."""
        request = CommitRequest(
            message=message,
            paths=None if paths is None else tuple(paths),
            author=_identity(author),
            co_authors=tuple(i for i in map(_identity, co_authors) if i is not None),
            trailers=tuple(parse_trailer(t) if isinstance(t, str) else t for t in trailers),
            trigger="commit",
        )
        return self._named(repo).commit(request)

    def notify_changed(self, repo: str | None = None, *, source: str = "notify") -> None:
        """The application saved something in ``repo``: commit it once the writes
        pause (``commit_quiet_period``), or at most ``commit_max_wait`` after the
        first. Cheap; call it on the event loop's thread after every save."""
        self.debouncers[self._named(repo).name].notify(source)

    async def settled(self, repo: str | None = None) -> None:
        """Wait until ``repo``'s writes are committed and its runs are done: no burst of
        notifications under way, no run running or queued (an application's tests,
        or a graceful stop, wait on this)."""
        runner = self._named(repo)
        debouncer = self.debouncers[runner.name]
        while True:
            if not debouncer.idle:
                await debouncer.fired()
            elif (ticket := runner.pending or runner.current) is not None:
                await ticket.wait()
            else:
                return

    def _debounced(self, runner: Runner, sources: tuple[str, ...]) -> None:
        """The end of a burst of notifications: one commit run (none while the
        repository is disabled or shutting down)."""
        if runner.enabled and not runner.closed:
            trigger = sources[0] if sources else "notify"
            runner.commit(CommitRequest(trigger=trigger), kind=trigger)

    async def _watch(self, runner: Runner) -> None:
        # watchfiles (and its thread) load only when a repository is watched.
        from ._watch import watch  # noqa: PLC0415

        debouncer = self.debouncers[runner.name]
        try:
            await watch(runner.spec.resolved_path, functools.partial(debouncer.notify, "watch"))
        except Exception:
            logger.exception("the watcher of %s stopped", runner.name)

    def admin_allowed(self, authorization: str | None) -> bool | None:
        """None when no admin token is configured, else whether the header carries it."""
        token = self.config.admin_token
        if not token:
            return None
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )

    # --- lifecycle --------------------------------------------------------------------

    def lifespan(self, inner: HostLifespan | None = None) -> Lifespan:
        """A lifespan for the host app, wrapped around the app's own ``inner`` one.

        Startup reconciles every repository before the app serves, then starts the
        polls; the app's own lifespan runs inside. The state it yields gains a
        ``reconcile`` key holding this plugin: the routes find the plugin there, so
        they answer only in an app this lifespan runs.
        """

        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[Mapping[str, Any]]:
            async with self.running():
                if inner is None:
                    yield {STATE_KEY: self}
                    return
                async with inner(app) as state:
                    yield {**(state or {}), STATE_KEY: self}

        return lifespan

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ReconcilePlugin]:
        """Run the runners: boot, poll, and on exit shut down within the bound.

        Raises ``BootFailed`` (before the app serves) when a boot reconcile failed
        and the boot policy is ``fail``.
        """
        failure: str | None = None
        if self.store is not None and self.config.auto_upgrade:
            await anyio.to_thread.run_sync(self.store.upgrade)
        async with anyio.create_task_group() as group:
            # Listening before the boot runs: a trigger sent meanwhile queues a run.
            await group.start(self.replicas.listen, self._heard, self._catch_up)
            if self.store is not None:
                group.start_soon(self._prune)
            if self.alerter is not None:
                await group.start(self.alerter.run)
            if self.notifier is not None:
                await group.start(self.notifier.run)
            for runner in self.runners.values():
                group.start_soon(runner.serve)
                group.start_soon(self.debouncers[runner.name].serve)
            try:
                failure = await self._boot()
                if failure is None:
                    self._start_timers(group)
                    yield self
            finally:
                await self._shutdown()
                group.cancel_scope.cancel()
        if failure is not None:
            raise BootFailed(failure)

    def _start_timers(self, group: anyio.abc.TaskGroup) -> None:
        """After the boot: the polls, and the watchers of watched repositories."""
        for runner in self.runners.values():
            if runner.config.poll_interval > 0:
                group.start_soon(self._poll, runner)
            if runner.config.watch:
                group.start_soon(self._watch, runner)

    async def _boot(self) -> str | None:
        """Reconcile every repository once; the failure to stop on, if the policy says so."""
        records: dict[str, RunRecord] = {}

        async def boot(runner: Runner) -> None:
            await self._provision(runner)
            records[runner.name] = await runner.trigger("boot").wait()

        async with anyio.create_task_group() as group:
            for runner in self.runners.values():
                group.start_soon(boot, runner)
        for name, record in records.items():
            problem = record.problem
            if problem:
                self.boot_errors[name] = problem
                logger.warning("boot reconcile of %s did not succeed: %s", name, problem)
        self.booted = True
        if self.boot_errors and self.config.boot_policy == "fail":
            return "boot reconcile failed: " + "; ".join(
                f"{n}: {p}" for n, p in self.boot_errors.items()
            )
        return None

    async def _provision(self, runner: Runner) -> None:
        """First boot and rotation: clone a repository that has a ``url`` into its
        missing or empty path, or point its remote at that URL. A failure is logged;
        the boot run then says what is wrong."""
        config = runner.config
        if config.url is None:
            return
        try:
            await anyio.to_thread.run_sync(
                lambda: ensure_clone(runner.spec, config.url or "", bare=config.bare),
                abandon_on_cancel=True,
            )
        except ReconcileError as exc:
            logger.error("repository %s could not be cloned: %s", config.name, exc)

    async def _poll(self, runner: Runner) -> None:
        interval, jitter = runner.config.poll_interval, runner.config.poll_jitter
        while not runner.closed:
            await anyio.sleep(interval * (1 + random.uniform(-jitter, jitter)))
            if runner.enabled and not runner.closed:
                runner.trigger("poll")

    async def _flush_writes(self) -> None:
        """Commit the writes of bursts still under way (a save the application made just
        before it stopped is not left for a next start that may not notify)."""
        tickets = [
            runner.commit(CommitRequest(trigger="shutdown"), kind="shutdown")
            for name, runner in self.runners.items()
            if not self.debouncers[name].idle and runner.enabled and not runner.closed
        ]
        for ticket in tickets:
            await ticket.wait()

    async def _shutdown(self) -> None:
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self.config.shutdown_timeout):
                await self._flush_writes()
            for runner in self.runners.values():
                runner.close()
            with anyio.move_on_after(self.config.shutdown_timeout):
                for runner in self.runners.values():
                    current = runner.current
                    if current is not None:
                        await current.done.wait()
            if self.alerter is not None:  # after the last runs: their alerts are queued
                await self.alerter.aclose()
            if self.notifier is not None:
                await self.notifier.aclose()
            if self.replicas.coordinated:
                await anyio.to_thread.run_sync(self.replicas.close)
            if self.store is not None:
                self.store.close()

    # --- routes -----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The plugin's routes, to mount under any prefix of an app whose lifespan is
        (or wraps) :meth:`lifespan`: they read the plugin from its state, and raise
        ``LifespanMissing`` in an app it does not run."""
        return _routes()

    def mount(self, prefix: str = "/reconcile") -> Mount:
        """The routes as one ``Mount`` at ``prefix``."""
        return Mount(prefix, routes=self.routes())


def _identity(value: Identity | str | None) -> Identity | None:
    return Identity.parse(value) if isinstance(value, str) else value


if TYPE_CHECKING:

    def _routes_may_read(plugin: ReconcilePlugin) -> PluginView:
        return plugin  # mypy checks here that the plugin is what the routes read
