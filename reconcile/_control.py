"""Steering a run from outside: cancelling it, watching its transfers, and the
deadline its network work must keep."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CancelToken", "Deadline", "Progress", "ProgressCallback"]


@dataclass(frozen=True)
class Progress:
    """Where a fetch or push stands. Reported at most a few times a second."""

    operation: str  # "fetch" or "push"
    objects: int = 0
    total_objects: int = 0
    bytes: int = 0
    done: bool = False


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Cancels the network operations of the runs it is given to.

    ``cancel()`` may be called from any thread. A transfer under way stops at its
    next packet; on Linux, a wait on the network (a connection still being set up,
    a server that sends nothing) stops at once, elsewhere at the network timeout.
    Local steps are short and all-or-nothing, so they are never interrupted: a
    cancelled fetch ends in ``fetch-failed``, a cancelled push in push status
    ``failed``, and nothing is left half-written.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._stoppers: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            stoppers = list(self._stoppers)
        for stop in stoppers:
            stop()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when cancelled meanwhile."""
        return self._event.wait(seconds)

    def register(self, stop: Callable[[], None]) -> Callable[[], None]:
        """Call ``stop`` on cancel (at once if already cancelled); returns an unregister."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._stoppers.append(stop)
        if already:
            stop()

        def unregister() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._stoppers.remove(stop)

        return unregister


class Deadline:
    """The time by which one run's network work must be done: ``seconds`` from its
    first network operation (``start()``; later calls change nothing)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends: float | None = None

    def start(self) -> None:
        if self._ends is None:
            self._ends = time.monotonic() + self.seconds

    def left(self) -> float:
        """Seconds left (all of them before ``start()``); zero or less once passed."""
        return self.seconds if self._ends is None else self._ends - time.monotonic()
