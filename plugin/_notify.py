"""``notify_url``: tell an application beside the service (a sidecar set-up) that its
tree moved, by POSTing the run's JSON, in the background.

After a run that moved the local branch (``Result.changed``), the notifier queues
the run; a worker per repository POSTs it to the repository's ``notify_url``:

- body: the run's JSON, exactly as ``/status`` and ``/history`` show a run
  (``RunRecord.to_dict()``: ``run_id``, ``repo``, ``triggers``, the times,
  ``result`` with ``outcome``, ``old_commit``, ``new_commit``, ``remote_commit``,
  ``branch``, ..., ``error``, ``callback_error``, ``hook``), UTF-8;
- headers: ``Content-Type: application/json; charset=utf-8``, ``X-Run-Id`` (the
  same on every retry: drop duplicates with it), and, with a secret,
  ``X-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body, as the alert
  webhook and the ``generic-hmac`` provider sign (``webhooks.sign_sha256``).

Each attempt is bounded by ``notify_timeout``; connection errors, timeouts, 408,
429 and 5xx are retried ``notify_retries`` times with full-jitter backoff, honouring
``Retry-After`` (the alerts' rules, ``plugin.alerts._delivery``). Nothing here is in
a run's way: ``observe`` only queues (a full queue drops, with a warning), and what
became of each POST is logged and counted in
``git_reconcile_notifications_total{repo, result}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

import anyio
import httpx
import tenacity
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from reconcile import __version__, redact_text
from webhooks import sign_sha256

from ._config import RepoConfig
from ._errors import SinkError
from ._metrics import AlertResult, Metrics
from ._record import RunRecord
from .alerts._delivery import RETRIED_ERRORS, Backoff, Sleep, describe_exception
from .alerts._sinks import json_body, read_secret

__all__ = ["NotifiedRunner", "Notifier"]

logger = logging.getLogger("plugin")

QUEUE_SIZE: Final = 100
DRAIN_TIMEOUT: Final = 5.0


class NotifiedRunner(Protocol):
    """What ``Notifier.observe`` reads of a runner: ``plugin.Runner`` has it."""

    config: RepoConfig


@dataclass(frozen=True)
class _Notice:
    run_id: str
    body: bytes


@dataclass
class _Queue:
    repo: RepoConfig
    send: MemoryObjectSendStream[_Notice]
    receive: MemoryObjectReceiveStream[_Notice]


def _verdict(response: httpx.Response) -> str:
    if response.is_success:
        return "ok"
    if response.status_code in (408, 429) or response.status_code >= 500:
        return "retry"
    return "fail"


class Notifier:
    """POSTs the runs that moved a branch to their repository's ``notify_url``.

    Add ``observe`` to the runners' observers, start ``run()`` in a task group
    (``await group.start(notifier.run)``), and ``await aclose()`` at shutdown: queued
    POSTs have ``drain_timeout`` seconds to go out. ``client`` is the HTTP client (one
    of its own when None), ``sleep`` waits between attempts.
    """

    def __init__(
        self,
        repos: Iterable[RepoConfig],
        *,
        metrics: Metrics | None = None,
        queue_size: int = QUEUE_SIZE,
        drain_timeout: float = DRAIN_TIMEOUT,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self.metrics = metrics
        self.drain_timeout = drain_timeout
        self._backoff = (backoff, backoff_max)
        self._client = client
        self._sleep = sleep
        self._queues: dict[str, _Queue] = {}
        for repo in repos:
            if repo.notify_url:
                send, receive = anyio.create_memory_object_stream[_Notice](queue_size)
                self._queues[repo.name] = _Queue(repo, send, receive)
        self._closed = False
        self._scope: anyio.CancelScope | None = None
        self._done = anyio.Event()

    @property
    def repos(self) -> list[str]:
        """The repositories that have a ``notify_url``."""
        return list(self._queues)

    def observe(self, runner: NotifiedRunner, record: RunRecord) -> None:
        """Observer of finished runs: queue the run if it moved the branch. Never
        raises, never blocks."""
        queue = self._queues.get(runner.config.name)
        result = record.result
        if queue is None or result is None or not result.changed:
            return
        if self._closed:
            self._count(queue.repo.name, "dropped")
            return
        try:
            queue.send.send_nowait(_Notice(record.run_id, json_body(record.to_dict())))
        except anyio.WouldBlock:
            logger.warning(
                "notify_url queue of %s is full: run %s dropped", queue.repo.name, record.run_id
            )
            self._count(queue.repo.name, "dropped")

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """POST what is queued until ``aclose()`` or cancellation."""
        client = self._client or httpx.AsyncClient(
            follow_redirects=False, headers={"User-Agent": f"git-reconcile/{__version__}"}
        )
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                async with anyio.create_task_group() as group:
                    for queue in self._queues.values():
                        group.start_soon(self._worker, client, queue)
                    task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                for queue in self._queues.values():
                    left = queue.receive.statistics().current_buffer_used
                    queue.receive.close()
                    for _ in range(left):
                        self._count(queue.repo.name, "dropped")
                if client is not self._client:
                    await client.aclose()
                self._done.set()

    async def aclose(self) -> None:
        """Take no more runs; let the queued POSTs go out for up to ``drain_timeout``
        seconds, then cancel the rest."""
        self._closed = True
        for queue in self._queues.values():
            queue.send.close()
        if self._scope is None:
            return
        self._scope.deadline = min(self._scope.deadline, anyio.current_time() + self.drain_timeout)
        with anyio.CancelScope(shield=True):
            await self._done.wait()

    async def _worker(self, client: httpx.AsyncClient, queue: _Queue) -> None:
        async for notice in queue.receive:
            await self._deliver(client, queue.repo, notice)

    async def _deliver(self, client: httpx.AsyncClient, repo: RepoConfig, notice: _Notice) -> None:
        assert repo.notify_url is not None
        secrets = tuple(s for s in (repo.notify_url, repo.notify_secret) if s)
        attempts = 0

        async def attempt(request: httpx.Request) -> httpx.Response:
            nonlocal attempts
            attempts += 1
            with anyio.fail_after(repo.notify_timeout):
                return await client.send(request)

        try:
            request = await self._request(repo, notice)
            retrying = tenacity.AsyncRetrying(
                stop=tenacity.stop_after_attempt(repo.notify_retries + 1),
                wait=Backoff(*self._backoff, time.time),
                retry=tenacity.retry_if_exception_type(RETRIED_ERRORS)
                | tenacity.retry_if_result(lambda r: _verdict(r) == "retry"),
                sleep=self._sleep,
                retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
            )
            response: httpx.Response = await retrying(attempt, request)
        except (SinkError, *RETRIED_ERRORS, httpx.HTTPError) as exc:
            self._failed(repo, notice, attempts, describe_exception(exc), secrets)
            return
        if _verdict(response) != "ok":
            self._failed(repo, notice, attempts, f"HTTP {response.status_code}", secrets)
            return
        logger.info(
            "run %s of %s notified (HTTP %d)", notice.run_id, repo.name, response.status_code
        )
        self._count(repo.name, "sent")

    async def _request(self, repo: RepoConfig, notice: _Notice) -> httpx.Request:
        secret = repo.notify_secret
        if repo.notify_secret_file is not None:
            secret = await read_secret(repo.notify_secret_file, "notify secret")
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Run-Id": notice.run_id}
        if secret:
            headers["X-Signature"] = sign_sha256(secret, notice.body)
        assert repo.notify_url is not None
        return httpx.Request("POST", repo.notify_url, content=notice.body, headers=headers)

    def _failed(
        self,
        repo: RepoConfig,
        notice: _Notice,
        attempts: int,
        problem: str,
        secrets: tuple[str, ...],
    ) -> None:
        logger.warning(
            "run %s of %s could not be notified after %d attempt(s): %s",
            notice.run_id,
            repo.name,
            attempts,
            redact_text(problem, secrets),
        )
        self._count(repo.name, "failed")

    def _count(self, repo: str, result: AlertResult) -> None:
        if self.metrics is not None:
            self.metrics.observe_notification(repo, result)
