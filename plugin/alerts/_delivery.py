"""Sending one alert to one sink: the sink's request, the attempts (tenacity), the
verdict on the response, the log line and the count.

Each attempt is bounded by ``send_timeout``. Transport errors, timeouts, 408, 429 and
5xx are retried up to ``retries`` times, after a full-jitter exponential backoff
(``backoff`` seconds, doubling, at most ``backoff_max``); a ``Retry-After`` the
response carries (seconds, or an HTTP date) is waited at least, up to
``backoff_max``. Other 4xx, and any other error, are final. A send that fails for
good is logged without URLs, tokens or signatures, and counted as ``failed``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

import anyio
import httpx
import tenacity

from reconcile import redact_text

from .._errors import SinkError, raise_problems
from .._metrics import AlertResult
from ._events import AlertEvent
from ._sinks import Sink
from ._text import one_line, plural

__all__ = [
    "RETRIED_ERRORS",
    "Backoff",
    "RetryPolicy",
    "Sender",
    "describe_exception",
    "retry_after",
]

logger = logging.getLogger("plugin.alerts")

#: Errors of an attempt that time may fix: the connection, and the attempt's bound.
RETRIED_ERRORS: Final = (httpx.TransportError, TimeoutError)
_SENSITIVE_HEADERS: Final = ("authorization", "private-token", "x-signature")

Sleep = Callable[[float], Awaitable[None]]
Count = Callable[[Sink, AlertResult], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How a send is attempted: ``retries`` more attempts after the first, each bounded
    by ``send_timeout`` seconds, after a full-jitter backoff of ``backoff`` seconds
    doubling up to ``backoff_max`` (also the most a ``Retry-After`` is waited)."""

    retries: int
    send_timeout: float
    backoff: float = 1.0
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        raise_problems(
            [
                f"{name}: must be at least 0, not {value}"
                for name in ("backoff", "backoff_max")
                if (value := getattr(self, name)) < 0
            ]
        )


def retry_after(response: httpx.Response, now: Callable[[], float] = time.time) -> float | None:
    """The seconds a response's ``Retry-After`` asks to wait (``120``, or an HTTP date
    such as ``Wed, 21 Oct 2026 07:28:00 GMT``, measured from ``now()``); None when it
    has none, or one that is unreadable, not in the future, or not finite."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000": UTC, as HTTP dates are
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class Backoff(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, waiting at least what a ``Retry-After`` of the
    last response asks for; both capped at ``cap`` seconds."""

    def __init__(self, backoff: float, cap: float, now: Callable[[], float]) -> None:
        self._jitter = tenacity.wait_random_exponential(multiplier=backoff, max=cap)
        self._cap = cap
        self._now = now

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        delay = self._jitter(retry_state)
        outcome = retry_state.outcome
        if outcome is None or outcome.failed:
            return delay
        asked = retry_after(outcome.result(), self._now)
        return delay if asked is None else max(delay, min(asked, self._cap))


def _last_outcome(retry_state: tenacity.RetryCallState) -> httpx.Response:
    """Out of attempts: the last response, or the last error raised again."""
    assert retry_state.outcome is not None
    response: httpx.Response = retry_state.outcome.result()
    return response


def describe_exception(exc: BaseException) -> str:
    """An error for a log line: ``timed out``, or its type and message."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"  # the attempt's bound, or one of httpx's own timeouts
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(eq=False)
class _Send:
    """One event on its way to one sink: the request once built, the attempts made."""

    sink: Sink
    event: AlertEvent
    request: httpx.Request | None = None
    attempts: int = 0

    @property
    def what(self) -> str:
        return f"{self.event.kind} alert {self.event.id} for {self.event.repo}"

    def secrets(self) -> tuple[str, ...]:
        """What to mask in a log line: the sink's secrets, the URL, the auth headers."""
        found = set(self.sink.secrets())
        if self.request is not None:
            found.add(str(self.request.url))
            found.update(
                v for k, v in self.request.headers.items() if k.lower() in _SENSITIVE_HEADERS
            )
        return tuple(sorted(found, key=len, reverse=True))


class Sender:
    """Delivers events to sinks over ``client`` by ``policy``; ``count(sink, result)``
    counts what became of each (``sent``, ``failed``, or ``dropped`` when cancelled
    before its first attempt). ``sleep`` waits between attempts; ``now`` is the wall
    clock an HTTP-date ``Retry-After`` is measured from."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        *,
        count: Count,
        sleep: Sleep = anyio.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.policy = policy
        self._count = count
        self._sleep = sleep
        self._now = now

    async def deliver(self, sink: Sink, event: AlertEvent) -> None:
        """Send ``event`` to ``sink`` with retries; log and count the outcome. Raises
        nothing but cancellation."""
        send = _Send(sink, event)
        try:
            await self._deliver(send)
        except anyio.get_cancelled_exc_class():
            if send.attempts:
                self._failed(send, "cancelled at shutdown")
            else:
                self._count(sink, "dropped")
            raise
        except SinkError as exc:  # the sink could not build its request: nothing to retry
            self._failed(send, str(exc))
        except Exception as exc:
            self._failed(send, describe_exception(exc))

    async def _deliver(self, send: _Send) -> None:
        request = send.request = await send.sink.request(send.event)
        if request is None:
            return  # the sink has nothing to do for this event
        response: httpx.Response = await self._retrying(send.sink)(self._attempt, send, request)
        if send.sink.verdict(response) != "ok":
            self._failed(send, f"HTTP {response.status_code}: {one_line(response.text, 200)}")
            return
        logger.info(
            "%s sent to %s (HTTP %d, %s)",
            send.what,
            send.sink.describe(),
            response.status_code,
            plural(send.attempts, "attempt"),
        )
        self._count(send.sink, "sent")

    def _retrying(self, sink: Sink) -> tenacity.AsyncRetrying:
        policy = self.policy
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(policy.retries + 1),
            wait=Backoff(policy.backoff, policy.backoff_max, self._now),
            retry=(
                tenacity.retry_if_exception_type(RETRIED_ERRORS)
                | tenacity.retry_if_result(lambda response: sink.verdict(response) == "retry")
            ),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            retry_error_callback=_last_outcome,
        )

    async def _attempt(self, send: _Send, request: httpx.Request) -> httpx.Response:
        send.attempts += 1
        with anyio.fail_after(self.policy.send_timeout):
            return await self.client.send(request)

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        send: _Send = retry_state.args[0]
        outcome = retry_state.outcome
        assert outcome is not None
        exc = outcome.exception()
        problem = (
            describe_exception(exc) if exc is not None else f"HTTP {outcome.result().status_code}"
        )
        wait = retry_state.upcoming_sleep
        logger.debug(
            "%s to %s: attempt %d failed (%s); next in %.2fs",
            send.what,
            send.sink.describe(),
            retry_state.attempt_number,
            redact_text(problem, send.secrets()),
            wait,
        )

    def _failed(self, send: _Send, problem: str) -> None:
        logger.warning(
            "%s could not be sent to %s after %s: %s",
            send.what,
            send.sink.describe(),
            plural(send.attempts, "attempt"),
            redact_text(problem, send.secrets()),
        )
        self._count(send.sink, "failed")
