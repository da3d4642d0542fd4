"""SIGINT and SIGTERM during ``git-reconcile run``: the run stops within moments.

The run goes on in a worker thread, with both signals blocked there (so the kernel
delivers them to the main thread, and so do the threads the run starts), while the
main thread waits for it. A signal cancels the run's ``CancelToken``: the network
operation under way stops (even while its connection is still being set up),
and the run ends as a cancelled one does. The local steps are never cut short: a
cancel does not reach them, so a ref move or a checkout under way finishes, and
nothing is left half-written. The caller says what the run did, from its result.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from reconcile import CancelToken

__all__ = ["SIGNALS", "Interruptible"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")
_WAKE_SECONDS = 0.25  # the main thread also wakes on this beat, whatever the signals do


class Interruptible:
    """Runs one piece of work in a worker thread, cancelling it on SIGINT or SIGTERM.

    ``received`` is the first signal that arrived while it ran (None: none did).
    """

    def __init__(self) -> None:
        from reconcile import CancelToken

        self.cancel: CancelToken = CancelToken()
        self.received: signal.Signals | None = None

    def run(self, work: Callable[[CancelToken], T]) -> T:
        """``work(cancel)``, in a worker thread; its result, or its exception raised here."""
        if threading.current_thread() is not threading.main_thread():
            return work(self.cancel)  # only the main thread can receive signals
        outcome: dict[str, T] = {}
        failure: list[BaseException] = []
        done = threading.Event()

        def worker() -> None:
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            try:
                outcome["value"] = work(self.cancel)
            except BaseException as exc:
                failure.append(exc)
            finally:
                done.set()

        previous = {number: signal.signal(number, self._received) for number in SIGNALS}
        try:
            threading.Thread(target=worker, name="git-reconcile-run", daemon=True).start()
            while not done.wait(_WAKE_SECONDS):
                pass
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if failure:
            raise failure[0]
        return outcome["value"]

    def _received(self, number: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(number)
        self.cancel.cancel()
