"""DeliveryCache: a redelivered id is recognised within the TTL, forgotten after it."""

from __future__ import annotations

import threading

import pytest

from webhooks import DeliveryCache, Provider


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


def test_repeat_within_ttl_is_seen() -> None:
    """The first sighting is new; the same id again within the TTL is seen."""
    clock = Clock()
    cache = DeliveryCache(ttl=60, now=clock)
    assert not cache.seen(Provider.GITHUB, "d-1")
    clock.at += 59.9
    assert cache.seen(Provider.GITHUB, "d-1")


def test_repeat_after_ttl_is_new() -> None:
    """After the TTL the id is forgotten, and counts as new again."""
    clock = Clock()
    cache = DeliveryCache(ttl=60, now=clock)
    assert not cache.seen("github", "d-1")
    clock.at += 60
    assert not cache.seen("github", "d-1")
    assert cache.seen("github", "d-1")


def test_repeat_does_not_extend_the_ttl() -> None:
    """The TTL counts from the first sighting, not the latest."""
    clock = Clock()
    cache = DeliveryCache(ttl=60, now=clock)
    cache.seen("github", "d-1")
    clock.at += 50
    assert cache.seen("github", "d-1")
    clock.at += 20
    assert not cache.seen("github", "d-1")


def test_providers_have_separate_ids() -> None:
    """The same id from two providers is two deliveries; Provider and its name are one."""
    cache = DeliveryCache(now=Clock())
    assert not cache.seen(Provider.GITHUB, "same")
    assert not cache.seen(Provider.GITLAB, "same")
    assert cache.seen("github", "same")


@pytest.mark.parametrize("delivery_id", [None, ""])
def test_delivery_without_id_is_never_seen(delivery_id: str | None) -> None:
    """A delivery without an id cannot be recognised, so it is never reported as seen."""
    cache = DeliveryCache(now=Clock())
    assert not cache.seen("generic-bearer", delivery_id)
    assert not cache.seen("generic-bearer", delivery_id)
    assert len(cache) == 0


def test_memory_is_bounded_oldest_first() -> None:
    """Past max_entries the oldest id is forgotten first."""
    clock = Clock()
    cache = DeliveryCache(max_entries=3, now=clock)
    for index in range(4):
        clock.at += 1
        cache.seen("github", f"d-{index}")
    assert len(cache) == 3
    assert cache.seen("github", "d-3")
    assert cache.seen("github", "d-1")
    assert not cache.seen("github", "d-0")


def test_expired_ids_are_dropped() -> None:
    """Expired ids do not stay in memory."""
    clock = Clock()
    cache = DeliveryCache(ttl=10, now=clock)
    for index in range(100):
        cache.seen("github", f"d-{index}")
    clock.at += 11
    cache.seen("github", "fresh")
    assert len(cache) == 1


@pytest.mark.parametrize(("ttl", "max_entries"), [(0, 10), (-1, 10), (10, 0)])
def test_invalid_limits_are_refused(ttl: float, max_entries: int) -> None:
    """A TTL that is not positive, or no room at all, is a configuration error."""
    with pytest.raises(ValueError, match=r"ttl|max_entries"):
        DeliveryCache(ttl=ttl, max_entries=max_entries)


def test_concurrent_repeats_report_new_exactly_once() -> None:
    """Many threads delivering the same id at once: exactly one of them sees it as new."""
    cache = DeliveryCache()
    start = threading.Barrier(16)
    results: list[bool] = []
    lock = threading.Lock()

    def deliver() -> None:
        start.wait()
        seen = cache.seen("github", "burst")
        with lock:
            results.append(seen)

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(False) == 1
    assert results.count(True) == 15
