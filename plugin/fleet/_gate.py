"""The gate of fleets on several replicas: a cycle over a shared tree runs on one
replica at a time, under a once-only advisory lock of ``plugin.replicas``.

Not waited for: while one replica runs the cycle, another's cycle at that moment is
skipped (its ``Fleet.cycle`` returns None), and its next cycle tries again. When
PostgreSQL cannot be reached, ``ReplicaLockError`` is raised and no cycle runs:
nothing is committed or pushed without the lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugin.replicas import Replicas

__all__ = ["FLEET_CYCLE", "ReplicaGate"]

#: The once-only work a fleet cycle is, for ``Replicas.hold``.
FLEET_CYCLE = "fleet-cycle"


class ReplicaGate:
    """A ``CycleGate`` that lets a cycle run only on the replica holding the fleet's
    once-only lock (``name``: one per shared tree, ``fleet-cycle`` by default)."""

    def __init__(self, replicas: Replicas, name: str = FLEET_CYCLE) -> None:
        self.replicas = replicas
        self.name = name

    @contextlib.contextmanager
    def once(self, cycle_id: str) -> Iterator[bool]:
        with self.replicas.hold(self.name) as got:
            yield got.held
