"""Debounced commits: an application says "I saved something" as often as it likes, and
the repository gets one commit per quiet moment.

The first notification starts a burst; the burst ends when ``quiet_period`` seconds
pass without another one (each notification restarts that wait), or when
``max_wait`` seconds have passed since its first notification, whichever comes
first, so constant writes are still committed. The end of a burst calls ``fire``
once, with the sources that notified (``notify``, ``watch``) in the order they
first did. ``notify()`` is synchronous and cheap: call it on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

__all__ = ["Debouncer"]


class Debouncer:
    """One commit per burst of notifications; ``serve()`` is its task."""

    def __init__(
        self, quiet_period: float, max_wait: float, fire: Callable[[tuple[str, ...]], object]
    ) -> None:
        self.quiet_period = quiet_period
        self.max_wait = max_wait
        self.fire = fire
        self.notifications = 0  # in the current burst
        self.bursts = 0  # bursts that ended (fired)
        self._first: float | None = None
        self._last = 0.0
        self._sources: dict[str, None] = {}
        self._fired = anyio.Event()
        self._poke = anyio.Event()

    @property
    def idle(self) -> bool:
        """True when no burst is under way."""
        return self._first is None

    async def fired(self) -> None:
        """Wait for the end of the next burst (after its ``fire``)."""
        await self._fired.wait()

    def notify(self, source: str = "notify") -> None:
        """Something changed: start a burst, or extend the current one."""
        now = anyio.current_time()
        self._sources[source] = None
        if self._first is None:
            self._first = now
        self._last = now
        self.notifications += 1
        self._poke.set()

    def _deadline(self) -> float:
        assert self._first is not None
        return min(self._last + self.quiet_period, self._first + self.max_wait)

    async def serve(self) -> None:
        """Wait for bursts and fire at the end of each, until cancelled."""
        while True:
            await self._poke.wait()
            self._poke = anyio.Event()
            while True:
                with anyio.move_on_after(max(0.0, self._deadline() - anyio.current_time())):
                    await self._poke.wait()
                    self._poke = anyio.Event()
                    continue  # notified again: the wait starts over
                break  # the deadline passed
            sources, self._sources = tuple(self._sources), {}
            self._first = None
            self.notifications = 0
            self.bursts += 1
            self.fire(sources)
            self._fired.set()
            self._fired = anyio.Event()
