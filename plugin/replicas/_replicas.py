"""``Replicas``: what one replica shares with the others through PostgreSQL.

Given a PostgreSQL URL (the audit store's, or ``lock_database_url`` for a direct
connection past a pooling proxy) it hands out each repository's lock, publishes the
triggers this replica receives and listens for the others', and runs the work that
must happen once at a time under a lock of its own (``exclusive``). Without one
(SQLite, or no store) there is one replica: no repository lock beyond the host's
file lock, nothing to publish or hear, and ``exclusive`` keeps the work to one task
of this process at a time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.abc import TaskStatus

from reconcile import RepoLockTimeout

from ._connection import is_postgres
from ._keys import ONCE, REPOSITORY, advisory_key
from ._lock import AdvisoryLock
from ._triggers import Listener, Publisher, Trigger

__all__ = ["Exclusive", "Replicas", "default_replica_id"]

logger = logging.getLogger("plugin")
T = TypeVar("T")


def default_replica_id() -> str:
    """This process's replica id when none is configured: ``<host name>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Exclusive:
    """What ``Replicas.exclusive(name)`` gives: whether this replica holds the lock,
    and, as a ``reconcile.RunGuard``, whether it still does."""

    def __init__(self, name: str, held: bool, lock: AdvisoryLock | None = None) -> None:
        self.name = name
        self.held = held
        self._lock = lock

    def __repr__(self) -> str:
        return f"Exclusive({self.name!r}, held={self.held})"

    def lost(self) -> str | None:
        if not self.held:
            return f"this replica does not hold the lock on {self.name!r}"
        return None if self._lock is None else self._lock.lost()


class Replicas:
    """The replica's side of the coordination. ``url`` is a PostgreSQL URL (anything
    else, or None: a single replica); ``replica_id`` names this replica (default:
    host name and pid); ``session_timeout`` is the failure time of its connections
    (seconds: how long a replica that stopped answering keeps its locks)."""

    def __init__(
        self,
        url: str | None,
        *,
        replica_id: str | None = None,
        session_timeout: float = 30.0,
    ) -> None:
        self.url = url if is_postgres(url) else None
        self.replica_id = replica_id or default_replica_id()
        self.instance = uuid.uuid4().hex  # this process alone
        self.session_timeout = session_timeout
        self._locks: dict[str, AdvisoryLock] = {}
        self._once: dict[str, tuple[threading.Lock, AdvisoryLock | None]] = {}
        self._table = threading.Lock()
        self.listener: Listener | None = None
        self._publisher: Publisher | None = None
        if self.url is not None:
            self.listener = Listener(self.url, self.replica_id, session_timeout)
            self._publisher = Publisher(self.url, self.replica_id, session_timeout)

    def __repr__(self) -> str:
        return f"Replicas({self.replica_id!r}, coordinated={self.coordinated})"

    @property
    def coordinated(self) -> bool:
        """Whether the replicas coordinate through PostgreSQL."""
        return self.url is not None

    @property
    def listening(self) -> bool:
        """Whether this replica hears the others' triggers right now."""
        return self.listener is not None and self.listener.listening

    # --- the repositories' locks ------------------------------------------------------

    def repository_lock(self, repo: str) -> AdvisoryLock | None:
        """The lock of the repository configured as ``repo`` (one object per name), or
        None without PostgreSQL."""
        if self.url is None:
            return None
        with self._table:
            lock = self._locks.get(repo)
            if lock is None:
                lock = AdvisoryLock(
                    self.url,
                    advisory_key(REPOSITORY, repo),
                    what=repr(repo),
                    replica_id=self.replica_id,
                    session_timeout=self.session_timeout,
                )
                self._locks[repo] = lock
            return lock

    def holds(self, repo: str) -> bool | None:
        """Whether this replica holds ``repo``'s lock; None without PostgreSQL."""
        if self.url is None:
            return None
        lock = self._locks.get(repo)
        return lock is not None and lock.held

    # --- work that must happen once at a time ------------------------------------------

    def _once_lock(self, name: str) -> tuple[threading.Lock, AdvisoryLock | None]:
        with self._table:
            found = self._once.get(name)
            if found is None:
                shared = None
                if self.url is not None:
                    shared = AdvisoryLock(
                        self.url,
                        advisory_key(ONCE, name),
                        what=f"once-only work {name!r}",
                        replica_id=self.replica_id,
                        session_timeout=self.session_timeout,
                    )
                found = self._once[name] = (threading.Lock(), shared)
            return found

    @contextmanager
    def hold(self, name: str, *, wait: float = 0.0) -> Iterator[Exclusive]:
        """Blocking form of :meth:`exclusive`, for a worker thread."""
        local, shared = self._once_lock(name)
        # One task of this process at a time, then one replica at a time.
        got = local.acquire(timeout=wait) if wait > 0 else local.acquire(blocking=False)
        if not got:
            yield Exclusive(name, held=False)
            return
        try:
            if shared is not None:
                try:
                    shared.acquire(wait)
                except RepoLockTimeout:
                    yield Exclusive(name, held=False)
                    return
            try:
                yield Exclusive(name, held=True, lock=shared)
            finally:
                if shared is not None:
                    shared.release()
        finally:
            local.release()

    @asynccontextmanager
    async def exclusive(self, name: str, *, wait: float = 0.0) -> AsyncIterator[Exclusive]:
        """Work named ``name`` that must run on one replica at a time::

            async with plugin.replicas.exclusive("prune") as once:
                if once.held:
                    ...  # no other replica is doing it; pass ``once`` as a run's guard

        ``wait`` is how long to wait for another holder (0: give up at once, and
        ``held`` is False). Raises ``ReplicaLockError`` when PostgreSQL cannot be
        reached: nothing is run without the lock.
        """
        manager = self.hold(name, wait=wait)
        with anyio.CancelScope(shield=True):  # taken, it is let go whatever happens
            got = await anyio.to_thread.run_sync(manager.__enter__)
        try:
            yield got
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(manager.__exit__, None, None, None)

    # --- triggers -----------------------------------------------------------------------

    def publish(self, repo: str, commit: str | None, trigger_id: str, kind: str) -> bool:
        """Tell the other replicas of a trigger this one received (blocking: call it
        in a worker thread). False without PostgreSQL; raises ``psycopg.Error`` when
        the database cannot take it."""
        if self._publisher is None:
            return False
        trigger = Trigger(repo, commit, trigger_id, kind, self.replica_id, self.instance)
        self._publisher.send(trigger)
        return True

    async def listen(
        self,
        heard: Callable[[Trigger], None],
        reconnected: Callable[[], None],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Hear the other replicas' triggers until cancelled: ``heard(trigger)`` for
        each (never this process's own), ``reconnected()`` after a lost connection is
        back; both are called in the event loop. Started once the first try to listen
        is over (listening, or failed: the listener then keeps trying), so a trigger
        published after that is heard. Returns at once without PostgreSQL."""
        listener = self.listener
        if listener is None:
            task_status.started()
            return
        stop, first = threading.Event(), threading.Event()

        def on_payload(payload: str) -> None:
            trigger = Trigger.parse(payload)
            if trigger is None:
                logger.warning("ignored a notification that is no trigger: %.200r", payload)
            elif trigger.instance != self.instance:
                if trigger.replica == self.replica_id:
                    logger.warning(
                        "another replica has this replica's id %r: give each its own replica_id",
                        self.replica_id,
                    )
                _to_loop(stop, heard, trigger)

        def on_reconnect() -> None:
            _to_loop(stop, lambda _none: reconnected(), None)

        async def run() -> None:
            await anyio.to_thread.run_sync(
                listener.run, stop, on_payload, on_reconnect, first, abandon_on_cancel=True
            )

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(run)
                # Bounded: a connection attempt gives up after the failure time.
                await anyio.to_thread.run_sync(
                    first.wait, 2 * self.session_timeout + 5, abandon_on_cancel=True
                )
                task_status.started()
        finally:
            stop.set()

    def close(self) -> None:
        """Let go of every lock and close every connection (blocking)."""
        with self._table:
            locks = [*self._locks.values(), *(s for _l, s in self._once.values() if s)]
        for lock in locks:
            lock.close()
        if self._publisher is not None:
            self._publisher.close()


def _to_loop(stop: threading.Event, call: Callable[[T], None], value: T) -> None:
    """Call ``call(value)`` in the event loop, from the listener's thread, unless the
    listener is stopping."""
    if stop.is_set():
        return
    try:
        anyio.from_thread.run_sync(call, value)
    except RuntimeError:  # the event loop is gone: the plugin is shutting down
        stop.set()
