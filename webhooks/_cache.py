"""Remembering delivery ids, so a redelivered or replayed webhook runs nothing twice."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ._provider import Provider

__all__ = ["DeliveryCache"]


class DeliveryCache:
    """Delivery ids seen in the last ``ttl`` seconds, at most ``max_entries`` of them.

    Ask it only *after* ``verify_and_parse`` succeeded: otherwise anyone could
    fill it with ids and have genuine deliveries ignored. When full, the oldest
    id is forgotten first. Safe to share between threads.
    """

    def __init__(
        self,
        ttl: float = 3600,
        max_entries: int = 100_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl > 0:
            raise ValueError("ttl must be positive")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._ttl = float(ttl)
        self._max = max_entries
        self._now = now
        self._lock = threading.Lock()
        # (provider, id) -> expiry; insertion order is first-sighting order.
        self._expiry: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen(self, provider: Provider | str, delivery_id: str | None) -> bool:
        """Whether this delivery was already seen within the TTL; records it if not.

        A delivery without an id cannot be recognised again: always ``False``.
        The TTL counts from the first sighting; a repeat does not extend it.
        """
        if not delivery_id:
            return False
        key = (str(provider), delivery_id)
        with self._lock:
            now = self._now()
            self._expire(now)
            expiry = self._expiry.get(key)
            if expiry is not None and expiry > now:
                return True
            self._expiry.pop(key, None)
            self._expiry[key] = now + self._ttl
            while len(self._expiry) > self._max:
                self._expiry.popitem(last=False)
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _expire(self, now: float) -> None:
        # Oldest first: stop at the first id still alive (the clock is monotonic).
        while self._expiry:
            key, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                return
            del self._expiry[key]
