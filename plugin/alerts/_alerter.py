"""The alerter: derives the alerts of finished runs, drops duplicates, queues them per
sink, and sends them in the background until shutdown.

``Alerter.observe`` is an observer for ``Runner.observers``: it never raises, never
blocks and never awaits the network. It drops an event already alerted for the same
(repo, kind, commit) within ``dedupe_interval`` seconds, then puts it on the bounded
queue of every sink whose ``min_severity`` admits it: an anyio memory object stream
of ``queue_size`` alerts (a full one drops the alert, with a warning and
``git_reconcile_alerts_total{result="dropped"}``). ``Alerter.run()`` runs one worker
per sink, so a dead sink delays no other; each sends its queue's alerts one at a
time (``plugin.alerts._delivery``: timeouts, retries, ``Retry-After``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import anyio
import httpx
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from reconcile import Outcome
from reconcile import __version__ as _version

from .._errors import ConfigError
from .._metrics import AlertResult, Metrics
from .._record import RunRecord
from ._config import AlertConfig
from ._delivery import RetryPolicy, Sender, Sleep
from ._derive import Streak, events_for
from ._events import AlertEvent
from ._hosts import HostKind
from ._sinks import Sink

__all__ = ["DRAIN_TIMEOUT", "Alerter", "ObservedRunner"]

logger = logging.getLogger("plugin.alerts")

_DEFAULTS: Final = AlertConfig()
#: How long queued alerts have to go out at shutdown, unless told otherwise.
DRAIN_TIMEOUT: Final = 5.0


class ObservedRunner(Protocol):
    """What ``Alerter.observe`` reads of a runner: ``plugin.Runner`` has it."""

    name: str

    def branch(self) -> str | None: ...

    def remote_url(self) -> str | None: ...


@dataclass(eq=False)
class _Queue:
    """The bounded queue of one sink: both ends of an anyio memory object stream."""

    sink: Sink
    send: MemoryObjectSendStream[AlertEvent]
    receive: MemoryObjectReceiveStream[AlertEvent]

    @classmethod
    def open(cls, sink: Sink, size: int) -> _Queue:
        send, receive = anyio.create_memory_object_stream[AlertEvent](max_buffer_size=size)
        return cls(sink, send, receive)

    def close(self) -> int:
        """Close both ends; how many alerts were left in it."""
        left = self.receive.statistics().current_buffer_used
        self.send.close()
        self.receive.close()
        return left


def _safely(call: Callable[[], str | None]) -> str | None:
    try:
        return call()
    except Exception:
        return None


class Alerter:
    """Derives alerts from finished runs and sends them in the background.

    Add ``observe`` to each runner's observers, start ``run()`` in a task group
    (``await group.start(alerter.run)``) for as long as alerts should go out, and
    ``await aclose()`` at shutdown: it lets the queued alerts go out for up to
    ``drain_timeout`` seconds, then cancels the rest. Call ``observe`` and ``submit``
    from the event loop's thread (the runner does).

    The settings are ``AlertConfig``'s (and checked there); ``backoff`` and
    ``backoff_max`` shape the retries (``RetryPolicy``), ``sleep`` waits between
    attempts, ``now`` is the clock of deduplication, and ``client`` is the HTTP client
    to send with (one of its own, closed at the end, when None).

    The failure streak is the runner's: each record carries the streak before it
    (``failures_before``), and ``failure_streak`` gives the one after. Deduplication applies to
    every kind: a second ``failing`` streak for the same commit within
    ``dedupe_interval`` is not alerted again.
    """

    def __init__(
        self,
        sinks: Iterable[Sink],
        *,
        failure_threshold: int = _DEFAULTS.failure_threshold,
        dedupe_interval: float = _DEFAULTS.dedupe_interval,
        queue_size: int = _DEFAULTS.queue_size,
        send_timeout: float = _DEFAULTS.send_timeout,
        retries: int = _DEFAULTS.retries,
        metrics: Metrics | None = None,
        now: Callable[[], float] = time.monotonic,
        backoff: float = RetryPolicy.backoff,
        backoff_max: float = RetryPolicy.backoff_max,
        drain_timeout: float = DRAIN_TIMEOUT,
        hosts: Mapping[str, HostKind] | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        config = AlertConfig(
            tuple(sinks),
            failure_threshold=failure_threshold,
            dedupe_interval=dedupe_interval,
            queue_size=queue_size,
            send_timeout=send_timeout,
            retries=retries,
            hosts=dict(hosts or {}),
        )
        self.policy = RetryPolicy(retries, config.send_timeout, backoff, backoff_max)
        if drain_timeout < 0:
            raise ConfigError(f"drain_timeout: must be at least 0, not {drain_timeout}")
        self.config = config
        self.sinks = config.sinks
        self.failure_threshold = config.failure_threshold
        self.dedupe_interval = config.dedupe_interval
        self.queue_size = config.queue_size
        self.send_timeout = config.send_timeout
        self.retries = config.retries
        self.hosts = config.hosts
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.drain_timeout = float(drain_timeout)
        self.metrics = metrics
        #: The failure streak of each repository, as this alerter has counted it.
        self._now = now
        self._sleep = sleep
        self._client = client
        self._seen: dict[tuple[str, str, str | None], float] = {}
        # Opened on first use, so an alerter that is never used holds no streams.
        self._queues: list[_Queue] | None = None
        for sink in self.sinks:
            if metrics is not None:
                metrics.register_alert_sink(sink.kind)
        self._closed = False
        self._done: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._deadline: float | None = None

    @classmethod
    def from_config(
        cls,
        config: AlertConfig,
        *,
        metrics: Metrics | None = None,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> Alerter:
        """An alerter with the sinks and settings of ``config``."""
        return cls(
            config.sinks,
            drain_timeout=drain_timeout,
            failure_threshold=config.failure_threshold,
            dedupe_interval=config.dedupe_interval,
            queue_size=config.queue_size,
            send_timeout=config.send_timeout,
            retries=config.retries,
            hosts=config.hosts,
            metrics=metrics,
        )

    # --- taking events in (synchronous, never raises) ---------------------------------

    def observe(self, runner: ObservedRunner, record: RunRecord) -> None:
        """Observer of a runner's finished runs: derive the alerts and queue them.
        Never raises, never blocks, never touches the network."""
        try:
            for event in self._events(runner, record):
                self.submit(event)
        except Exception:
            logger.exception("deriving the alerts of a run failed")

    def _events(self, runner: ObservedRunner, record: RunRecord) -> list[AlertEvent]:
        repo = runner.name
        streak = Streak.after_run(record.failures_before, record, self.failure_threshold)
        result = record.result
        branch = None if result is not None else _safely(runner.branch)
        remote_url = None
        if result is not None and result.outcome is Outcome.CONFLICT_ESCAPED:
            remote_url = _safely(runner.remote_url)
        return events_for(
            repo, record, streak, branch=branch, remote_url=remote_url, hosts=self.hosts
        )

    def submit(self, event: AlertEvent) -> bool:
        """Queue ``event`` for every sink that admits it, unless it is a duplicate.
        True when at least one sink queued it. Never blocks."""
        if self._closed:
            logger.info("alert %s for %s not sent: shutting down", event.kind, event.repo)
            return False
        if not self._fresh(event):
            logger.debug("alert %s for %s deduplicated", event.kind, event.repo)
            return False
        queued = False
        for queue in self._open():
            if queue.sink.accepts(event):
                queued = self._put(queue, event) or queued
        return queued

    def _put(self, queue: _Queue, event: AlertEvent) -> bool:
        try:
            queue.send.send_nowait(event)
        except anyio.WouldBlock:
            logger.warning(
                "alert queue of %s is full: dropped the %s alert for %s",
                queue.sink.describe(),
                event.kind,
                event.repo,
            )
            self._count(queue.sink, "dropped")
            return False
        return True

    def _fresh(self, event: AlertEvent) -> bool:
        """False when the same (repo, kind, commit) was alerted within the interval."""
        if self.dedupe_interval <= 0:
            return True
        now = self._now()
        interval = self.dedupe_interval
        self._seen = {k: t for k, t in self._seen.items() if now - t < interval}
        key = (event.repo, event.kind, event.commit)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    def _open(self) -> list[_Queue]:
        """The sinks' queues, opened on first use (closed for sending once closing)."""
        if self._queues is None:
            self._queues = [_Queue.open(sink, self.queue_size) for sink in self.sinks]
            if self._closed:
                for queue in self._queues:
                    queue.send.close()
        return self._queues

    def _count(self, sink: Sink, result: AlertResult) -> None:
        if self.metrics is not None:
            try:
                self.metrics.observe_alert(sink.kind, result)
            except Exception:
                logger.exception("counting an alert failed")

    # --- sending (in the background) --------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send the queued alerts until ``aclose()`` (which lets the queues drain for up
        to ``drain_timeout`` seconds) or cancellation. Start it with
        ``await group.start(alerter.run)`` to know it runs when that returns."""
        if self._done is not None:
            raise RuntimeError("Alerter.run() is already running or has run")
        done = self._done = anyio.Event()
        queues = self._open()
        client = self._client if self._client is not None else self._new_client()
        sender = Sender(client, self.policy, count=self._count, sleep=self._sleep)
        try:
            with anyio.CancelScope() as scope:
                if self._deadline is not None:  # closed before it started: drain, bounded
                    scope.deadline = self._deadline
                self._scope = scope
                async with anyio.create_task_group() as group:
                    for queue in queues:
                        group.start_soon(self._worker, sender, queue)
                    task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                self._closed = True
                self._discard(queues)
                if client is not self._client:
                    await client.aclose()
                self._scope = None
                done.set()

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.send_timeout),
            follow_redirects=False,
            headers={"User-Agent": f"git-reconcile/{_version}"},
        )

    async def _worker(self, sender: Sender, queue: _Queue) -> None:
        """Send the alerts of one sink's queue, one at a time, until it is closed and
        empty."""
        async for event in queue.receive:
            await sender.deliver(queue.sink, event)

    def _discard(self, queues: list[_Queue]) -> None:
        """Close the queues; the alerts left in them are dropped, logged and counted."""
        for queue in queues:
            left = queue.close()
            if left:
                logger.warning("%d alert(s) to %s not sent: shut down", left, queue.sink.describe())
                for _ in range(left):
                    self._count(queue.sink, "dropped")

    async def aclose(self) -> None:
        """Take no more alerts, let the queued ones go out for up to ``drain_timeout``
        seconds, then cancel the sends still going; returns once ``run()`` has ended.
        Safe to call more than once, before ``run()`` started, and from a cancelled
        scope."""
        self._closed = True
        for queue in self._queues or ():
            queue.send.close()  # the workers end once their queue is empty
        deadline = anyio.current_time() + self.drain_timeout
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        if self._scope is not None:
            self._scope.deadline = min(self._scope.deadline, self._deadline)
        done = self._done
        if done is not None:
            with anyio.CancelScope(shield=True):
                await done.wait()
