"""``AdvisoryLock``: one session-level advisory lock in PostgreSQL, held on a
connection of its own, and the ``RunGuard`` a run asks before each write.

Taking it tries ``pg_try_advisory_lock`` first; when another session holds it, it
waits in ``pg_advisory_lock`` (PostgreSQL's queue: the next in line gets it the
moment it is let go) under ``lock_timeout``, and a cancel of the run's token
cancels the wait on the server. While held:

- ``idle_session_timeout`` is set to the failure time for this session, and a
  heartbeat thread sends a query every third of it: a live holder is never idle
  that long, a stopped one loses its session, and with it the lock;
- ``lost()`` makes a round trip and reads ``pg_locks``: the lock is this session's,
  granted, or the run is told why not (the connection closed under it, the server
  ended the session). A heartbeat that failed answers at once.

The connection is kept between runs (one round trip takes the lock), and a kept
connection the server closed meanwhile is replaced once. Releasing unlocks; when the
connection is in doubt it is closed instead, which ends the session and its locks.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from reconcile import CancelToken, RepoLockTimeout, redact_text

from .._errors import ReplicaLockError
from ._connection import connect

if TYPE_CHECKING:
    import psycopg

__all__ = ["AdvisoryLock"]

logger = logging.getLogger("plugin")

_TRY = (
    "SELECT CASE WHEN pg_try_advisory_lock(%(a)s, %(b)s)"
    " THEN set_config('idle_session_timeout', %(idle)s, false) IS NOT NULL ELSE false END"
)
_WAIT = "SELECT pg_advisory_lock(%(a)s, %(b)s), set_config('idle_session_timeout', %(idle)s, false)"
_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND pid = pg_backend_pid() AND classid::int8 = %(a)s AND objid::int8 = %(b)s"
    " AND objsubid = 2 AND granted)"
)
_UNLOCK = "SELECT pg_advisory_unlock(%(a)s, %(b)s), set_config('idle_session_timeout', '0', false)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact_text(text[0] if text else type(exc).__name__)


class AdvisoryLock:
    """A session-level advisory lock, ``key`` (two integers), in the database at
    ``url`` (a direct connection: never through a transaction-pooling proxy).

    ``what`` names it in messages (``'data'``). ``session_timeout`` (seconds) is how
    long a holder that stopped answering keeps it (see ``_connection``). Thread-safe:
    taken in one thread, asked and let go in others.
    """

    def __init__(
        self,
        url: str,
        key: tuple[int, int],
        *,
        what: str,
        replica_id: str,
        session_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.key = key
        self.what = what
        self.replica_id = replica_id
        self.session_timeout = session_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._lost: str | None = None
        self._beating: threading.Event | None = None
        self._beat: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"AdvisoryLock({self.what}, key={self.key})"

    @property
    def held(self) -> bool:
        """Whether this replica holds the lock, as far as it knows (a lost connection
        is known at the next heartbeat or question)."""
        return self._held and self._lost is None

    def _params(self, **more: object) -> dict[str, object]:
        a, b = self.key
        return {"a": a, "b": b, "idle": str(int(self.session_timeout * 1000)), **more}

    # --- taking it --------------------------------------------------------------------

    def acquire(self, timeout: float, cancel: CancelToken | None = None) -> None:
        """Take the lock, waiting up to ``timeout`` seconds (0: only if free).

        Raises ``reconcile.RepoLockTimeout`` when another session kept it (or the
        wait was cancelled), and ``ReplicaLockError`` when the database cannot be
        reached.
        """
        import psycopg  # noqa: PLC0415

        if self._held:
            raise RuntimeError(f"{self!r} is already held")
        deadline = time.monotonic() + timeout
        try:
            got = self._try()
        except psycopg.OperationalError:
            self._drop()  # a kept connection the server closed meanwhile: once more
            try:
                got = self._try()
            except psycopg.Error as exc:
                self._drop()
                raise ReplicaLockError(
                    f"cannot take the lock on {self.what}: {_first_line(exc)}"
                ) from None
        if not got:
            self._wait(deadline, timeout, cancel)
        self._held, self._lost = True, None
        self._start_heartbeat()

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another session holds it."""
        try:
            self.acquire(0.0)
        except RepoLockTimeout:
            return False
        return True

    def _connection(self) -> psycopg.Connection[Any]:
        import psycopg  # noqa: PLC0415

        if self._conn is None or self._conn.closed:
            name = f"git-reconcile lock {self.replica_id} {self.what}"
            try:
                self._conn = connect(self.url, name, self.session_timeout)
            except psycopg.Error as exc:
                raise ReplicaLockError(
                    f"cannot take the lock on {self.what}: PostgreSQL is unreachable "
                    f"({_first_line(exc)})"
                ) from None
        return self._conn

    def _try(self) -> bool:
        row = self._connection().execute(_TRY, self._params()).fetchone()
        return bool(row and row[0])

    def _wait(self, deadline: float, timeout: float, cancel: CancelToken | None) -> None:
        """Wait in PostgreSQL's queue until the lock is ours, the time is up, or the
        run is cancelled."""
        import psycopg  # noqa: PLC0415

        left = deadline - time.monotonic()
        if left <= 0 or (cancel is not None and cancel.cancelled):
            raise self._timeout(timeout, cancel)
        conn = self._connection()
        unregister = cancel.register(conn.cancel_safe) if cancel is not None else None
        try:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(left * 1000)}",))
            conn.execute(_WAIT, self._params())
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
            raise self._timeout(timeout, cancel) from None
        except psycopg.Error as exc:
            self._drop()
            raise ReplicaLockError(
                f"lost the connection to PostgreSQL while waiting for the lock on "
                f"{self.what} ({_first_line(exc)})"
            ) from None
        finally:
            if unregister is not None:
                unregister()

    def _timeout(self, timeout: float, cancel: CancelToken | None) -> RepoLockTimeout:
        if cancel is not None and cancel.cancelled:
            return RepoLockTimeout(f"cancelled while waiting for the lock on {self.what}")
        return RepoLockTimeout(
            f"another replica holds the lock on {self.what} in PostgreSQL (waited {timeout:g} s)"
        )

    # --- holding it -------------------------------------------------------------------

    def lost(self) -> str | None:
        """None while this replica holds the lock, checked with the server; else why
        not. The ``reconcile.RunGuard`` of a run under this lock."""
        import psycopg  # noqa: PLC0415

        if self._lost is not None:
            return self._lost
        conn = self._conn
        if not self._held or conn is None:
            return f"this replica does not hold the lock on {self.what}"
        try:
            row = conn.execute(_HELD, self._params()).fetchone()
        except psycopg.Error as exc:
            return self._mark_lost(f"its connection to PostgreSQL failed: {_first_line(exc)}")
        if not (row and row[0]):
            return self._mark_lost("PostgreSQL no longer lists it as this session's")
        return None

    def _mark_lost(self, why: str) -> str:
        if self._lost is None:
            self._lost = f"this replica ({self.replica_id}) lost its lock on {self.what}: {why}"
            logger.warning("%s", self._lost)
        return self._lost

    def _start_heartbeat(self) -> None:
        conn = self._conn
        assert conn is not None
        stop = threading.Event()
        interval = max(0.05, self.session_timeout / 3)

        def beat() -> None:
            import psycopg  # noqa: PLC0415

            while not stop.wait(interval):
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error as exc:
                    if not stop.is_set():
                        self._mark_lost(f"its connection to PostgreSQL failed: {_first_line(exc)}")
                    return

        self._beating = stop
        self._beat = threading.Thread(target=beat, name=f"heartbeat {self.what}", daemon=True)
        self._beat.start()

    def _stop_heartbeat(self) -> None:
        stop, beat = self._beating, self._beat
        self._beating = self._beat = None
        if stop is not None:
            stop.set()
        if beat is not None:
            beat.join(self.session_timeout + 1.0)

    # --- letting it go ----------------------------------------------------------------

    def release(self) -> None:
        """Let the lock go (closing the connection when it is in doubt: the session's
        end lets every lock of it go). Does nothing when it is not held."""
        import psycopg  # noqa: PLC0415

        self._stop_heartbeat()
        if not self._held:
            return
        self._held = False
        conn = self._conn
        if self._lost is not None or conn is None:
            self._drop()
            return
        try:
            row = conn.execute(_UNLOCK, self._params()).fetchone()
        except psycopg.Error:
            self._drop()
            return
        if not (row and row[0]):
            logger.warning("the lock on %s was not this session's when let go", self.what)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Let go and close the connection."""
        self.release()
        self._drop()
