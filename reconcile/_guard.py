"""A run's guard: a lock held outside the repository, asked before every write.

A caller that holds a lock of its own around a run (the plugin's lock in PostgreSQL,
shared by its replicas) gives the run a ``RunGuard``. Right before each write the
engine asks it ``lost()``:

- before the fetch (it writes objects and the remote-tracking ref), and before each
  of its retries;
- before each push (of the branch, or of a conflict branch), retries included;
- before each ref move: a fast-forward, a rebase's move, the reset after an escape,
  a conflict branch created or given up;
- when the run starts, before it clears crashed writers' lock files or finishes a
  move a crash cut short.

``None`` means the run may go on. A reason means the lock is gone: the run writes
nothing more. When nothing was written yet it ends ``fetch-failed``, else
``blocked``; its reason says where it stopped and why. The guard decides what
"lost" means and how sure it must be (a round trip to its server, say): the engine
only asks. A guard that raises counts as lost: a run never writes on a guard's
doubt.

This module knows no database: the guard's side lives with whoever holds the lock.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._errors import LockLostError

__all__ = ["Guard", "RunGuard"]


@runtime_checkable
class RunGuard(Protocol):
    """What ``reconcile(..., guard=...)`` asks before each write."""

    def lost(self) -> str | None:
        """None while the run may write; otherwise why it may not (the lock is gone)."""


class Guard:
    """The engine's side of a ``RunGuard`` (or of none): asked by name of the write."""

    def __init__(self, guard: RunGuard | None = None) -> None:
        self._guard = guard

    def why(self, before: str) -> str | None:
        """Why the run must stop before ``before`` (a write, in words), or None."""
        if self._guard is None:
            return None
        try:
            lost = self._guard.lost()
        except Exception as exc:  # a guard in doubt is a lost guard
            lost = f"its guard failed: {type(exc).__name__}: {exc}"
        return None if lost is None else f"stopped before {before}: {lost}"

    def check(self, before: str) -> None:
        """Raise ``LockLostError`` when the run must stop before ``before``."""
        why = self.why(before)
        if why is not None:
            raise LockLostError(why)
