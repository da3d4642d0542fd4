"""A run's network operations: retried, checked for a lost answer, recorded.

Fetches and pushes are retried when time may fix the failure (tenacity:
exponential backoff with full jitter, at most ``Retry.attempts`` tries); a wait
between tries ends early when the run is cancelled. The run's deadline
(``RepoSpec.deadline``, counted from its first network operation) bounds them all:
no try starts after it, none waits past it. A push whose answer was lost
(a timeout after the server accepted it) is found landed by the next try, on its
own connection (the remote already holds our value: nothing is sent), or, after the
last try, by reading the remote's heads. Every operation, its retries included,
becomes one ``NetworkOperation`` record. The run's guard is asked before every try
(``LockLostError`` stops the operation there, recorded as failed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import tenacity

from ._control import Deadline
from ._errors import CancelledError, GitError, LockLostError, NetworkError, ReconcileError
from ._git import PushOutcome, RemoteState
from ._guard import Guard
from ._redact import redact_url
from ._result import REMOTE_MOVED, NetworkOperation, PushResult, PushStatus
from ._target import Target

__all__ = ["PushAttempt", "Transfers"]

logger = logging.getLogger("reconcile")
T = TypeVar("T")


@dataclass(frozen=True)
class PushAttempt:
    """What one retried push came to: the server's answer for its first ref, or
    (``answer`` None) the failure that stopped it, and how many tries it took."""

    answer: PushOutcome | None
    attempts: int
    failure: NetworkError | None = None

    def counted(self, before: PushResult) -> PushResult:
        """``before`` with this push's tries added, and nothing else changed."""
        return replace(before, attempts=before.attempts + self.attempts)

    def result(self, before: PushResult, rounds: int) -> PushResult:
        """The run's push after this one: its status, error and reason, with the
        attempts of the whole run. ``rounds`` is how many times the run fetched."""
        attempts = before.attempts + self.attempts
        answer = self.answer
        if answer is None:
            assert self.failure is not None
            failure = self.failure
            return PushResult(PushStatus.FAILED, attempts, str(failure), failure.code)
        if answer.ok:
            return PushResult(PushStatus.OK, attempts)
        if answer.raced:
            error = (
                f"the remote moved during the run ({answer.message}); "
                f"gave up after {rounds} round(s), run again"
            )
            return PushResult(PushStatus.REJECTED, attempts, error, REMOTE_MOVED)
        message = answer.message or "refused by the server"
        error = message + (f" ({answer.hint})" if answer.hint else "")
        return PushResult(PushStatus.REJECTED, attempts, error, answer.code or "rejected")


class _Attempts:
    """Counts the tries of one retried operation."""

    def __init__(self) -> None:
        self.count = 0


@dataclass(frozen=True)
class _Clock:
    """When an operation started: wall time for the record, a monotonic clock for its
    duration."""

    started_at: float
    monotonic: float

    @classmethod
    def start(cls) -> _Clock:
        return cls(time.time(), time.monotonic())


class Transfers:
    """The fetches and pushes of one run, and their records (``operations``)."""

    def __init__(self, target: Target, guard: Guard | None = None) -> None:
        self._target = target
        self.guard = guard if guard is not None else Guard()
        self.operations: list[NetworkOperation] = []

    def fetch(self) -> RemoteState:
        """Fetch the run's branch; raises the ``GitError`` of the last try, or
        ``LockLostError`` when the guard's lock is gone before a try."""
        clock, tries = _Clock.start(), _Attempts()
        refs = (self._target.refname,)
        remote = self._target.remote

        def attempt() -> RemoteState:
            self.guard.check("fetching")
            return remote.fetch(self._target.branch)

        try:
            state = self._retrying(tries, attempt)
        except (GitError, LockLostError) as exc:
            self._record("fetch", refs, clock, tries.count, error=exc)
            raise
        self._record(
            "fetch",
            refs,
            clock,
            tries.count,
            sent=state.received_bytes,
            objects=state.received_objects,
        )
        return state

    def push(self, refs: dict[str, str | None], *, force: bool = False) -> PushAttempt:
        """Push under a lease (``refs``: each ref and the value the remote must hold),
        retrying transient failures; a lost answer is found by the next try, or after the
        last one in the remote's heads. Raises ``LockLostError`` when the guard's lock is
        gone before a try."""
        clock, tries = _Clock.start(), _Attempts()
        sent = 0

        def attempt() -> PushOutcome:
            nonlocal sent
            self.guard.check(f"pushing {', '.join(refs)}")
            answers, sent = self._target.remote.push(refs, force=force, again=tries.count > 1)
            return next(iter(answers.values()))

        answer: PushOutcome | None = None
        failure: NetworkError | None = None
        try:
            answer = self._retrying(tries, attempt)
        except LockLostError as exc:
            self._record("push", tuple(refs), clock, tries.count, sent=sent, error=exc)
            raise
        except NetworkError as exc:
            if exc.transient and self._landed(refs):
                answer = PushOutcome(ok=True)
            else:
                failure = exc
        self._record(
            "push", tuple(refs), clock, tries.count, sent=sent, error=failure, answer=answer
        )
        return PushAttempt(answer, tries.count, failure)

    def _landed(self, refs: dict[str, str | None]) -> bool:
        """True when the remote holds our value for every ref (best effort)."""
        try:
            heads = self._target.remote.heads()
        except GitError:
            return False
        repo = self._target.repo
        return all(heads.get(ref) == repo.ref_target(ref) for ref in refs)

    def _retrying(self, tries: _Attempts, operation: Callable[[], T]) -> T:
        """Run a network operation, retrying what time may fix (tenacity, full jitter)."""
        policy = self._target.spec.retry
        cancel = self._target.remote.net.cancel
        deadline = self._target.remote.net.deadline
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(policy.attempts)
        if deadline is not None:
            deadline.start()
            stop = stop | _OutOfTime(deadline)

        def attempt() -> T:
            tries.count += 1
            return operation()

        def sleep(seconds: float) -> None:
            if cancel is None:
                time.sleep(seconds)
            elif cancel.wait(seconds):
                raise CancelledError("cancelled while waiting to retry")

        retrying = tenacity.Retrying(
            stop=stop,
            wait=tenacity.wait_random_exponential(
                multiplier=policy.initial, exp_base=policy.multiplier, max=policy.max_delay
            ),
            retry=tenacity.retry_if_exception(_transient),
            sleep=sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(attempt)

    def _record(
        self,
        kind: str,
        refs: tuple[str, ...],
        clock: _Clock,
        attempts: int,
        *,
        sent: int = 0,
        objects: int = 0,
        error: ReconcileError | None = None,
        answer: PushOutcome | None = None,
    ) -> None:
        result, message, code = _operation_result(error, answer)
        self.operations.append(
            NetworkOperation(
                kind=kind,
                remote=self._target.spec.remote,
                url=redact_url(self._target.remote.url),
                refs=refs,
                started_at=clock.started_at,
                duration_ms=(time.monotonic() - clock.monotonic) * 1000.0,
                attempts=attempts,
                bytes=sent,
                objects=objects,
                result=result,
                error=message,
                code=code,
            )
        )


class _OutOfTime(tenacity.stop.stop_base):
    """Stop retrying when the next try would start after the run's deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._deadline.left() <= retry_state.upcoming_sleep


def _operation_result(
    error: ReconcileError | None, answer: PushOutcome | None
) -> tuple[str, str | None, str | None]:
    """An operation's result (``ok``, ``rejected``, ``failed``, ``cancelled``), message
    and code, from the error that ended it or the server's answer."""
    if error is not None:
        result = "cancelled" if isinstance(error, CancelledError) else "failed"
        return result, str(error), error.code if isinstance(error, NetworkError) else None
    if answer is not None:
        return ("ok" if answer.ok else "rejected"), answer.message, answer.code
    return "ok", None, None


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, NetworkError) and exc.transient


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.info(
        "retrying after a transient failure (attempt %d, waiting %.2fs): %s",
        state.attempt_number,
        wait,
        error,
    )
