"""Triggers shared by the replicas, through PostgreSQL's ``LISTEN``/``NOTIFY``.

A trigger one replica receives (a push webhook for a repository's branch, a manual
trigger) is published on the channel ``git_reconcile`` as a small JSON document:
the repository's configured name, the commit the push announced (none for a manual
trigger or a deleted branch), the trigger's id, its kind, and who sent it (the
replica's id, and an id of its process that no other has, so that a replica never
takes its own notification for another's, even under a shared replica id).

Each replica listens on a connection of its own, in a thread (psycopg's
``notifies``), with TCP keepalives on: a notification arrives within moments of the
sender's commit. The connection lost (the server restarted, a network cut, the
session terminated), the listener connects again with exponential backoff and
jitter (tenacity), for as long as it runs, and says so once it is back:
notifications sent meanwhile are gone, so the plugin then runs each repository
once to catch up.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import tenacity

from ._connection import connect

if TYPE_CHECKING:
    import psycopg

__all__ = ["CHANNEL", "Listener", "Publisher", "Trigger"]

logger = logging.getLogger("plugin")

#: The channel every replica listens on.
CHANNEL: Final = "git_reconcile"
_VERSION = 1
_POLL = 0.5  # seconds between looks at the stop flag while no notification comes


class _Stopped(Exception):
    """The listener was told to stop while it waited to connect again."""


@dataclass(frozen=True)
class Trigger:
    """A trigger as the replicas tell each other: which repository, the commit a push
    announced, the trigger's id and kind, and who sent it."""

    repo: str
    commit: str | None
    trigger_id: str
    kind: str  # "webhook" or "manual"
    replica: str
    instance: str

    def payload(self) -> str:
        return json.dumps({"v": _VERSION, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def parse(cls, payload: str) -> Trigger | None:
        """The trigger a notification carries; None when it is not one of ours."""
        try:
            data = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            return None
        texts = ("repo", "trigger_id", "kind", "replica", "instance")
        if not all(isinstance(data.get(key), str) for key in texts):
            return None
        commit = data.get("commit")
        if commit is not None and not isinstance(commit, str):
            return None
        return cls(commit=commit, **{key: data[key] for key in texts})


class Publisher:
    """Sends triggers on a connection of its own, kept between sends (one round trip
    each), connected again once when the kept one was closed meanwhile."""

    def __init__(self, url: str, replica_id: str, session_timeout: float) -> None:
        self._url = url
        self._name = f"git-reconcile notify {replica_id}"
        self._session_timeout = session_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()

    def send(self, trigger: Trigger) -> None:
        """Publish ``trigger``; raises ``psycopg.Error`` when the database cannot take it."""
        import psycopg  # noqa: PLC0415

        with self._guard:
            try:
                self._send(trigger)
            except psycopg.OperationalError:
                self.close_connection()
                self._send(trigger)

    def _send(self, trigger: Trigger) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, self._name, self._session_timeout)
        self._conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, trigger.payload()))

    def close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._guard:
            self.close_connection()


class Listener:
    """Listens for triggers until told to stop, connecting again whenever the
    connection is lost."""

    def __init__(self, url: str, replica_id: str, session_timeout: float) -> None:
        self._url = url
        self._name = f"git-reconcile listen {replica_id}"
        self._session_timeout = session_timeout
        self.listening = False  # connected and listening right now
        self.reconnects = 0  # connections made again after one was lost

    def run(
        self,
        stop: threading.Event,
        heard: Callable[[str], None],
        reconnected: Callable[[], None],
        first: threading.Event | None = None,
    ) -> None:
        """In a thread: call ``heard(payload)`` for each notification, and
        ``reconnected()`` each time the connection is back after it was lost.
        ``first`` is set once the first try is over: listening, or failed."""
        import psycopg  # noqa: PLC0415

        tried = first if first is not None else threading.Event()
        lost = False
        try:
            while not stop.is_set():
                try:
                    conn = self._connect(stop, tried)
                except _Stopped:
                    return
                except psycopg.Error as exc:  # not the network: trying again will not help
                    logger.error("cannot listen for other replicas' triggers: %s", exc)
                    return
                tried.set()
                lost = self._serve(conn, stop, heard, reconnected, lost=lost)
        finally:
            tried.set()

    def _serve(
        self,
        conn: psycopg.Connection[Any],
        stop: threading.Event,
        heard: Callable[[str], None],
        reconnected: Callable[[], None],
        *,
        lost: bool,
    ) -> bool:
        """Listen on ``conn`` until stopped (False) or the connection is lost (True)."""
        import psycopg  # noqa: PLC0415

        try:
            self.listening = True
            if lost:
                self.reconnects += 1
                logger.info("listening for other replicas' triggers again")
                reconnected()
            self._listen(conn, stop, heard)
        except psycopg.Error as exc:
            logger.warning("lost the connection that listens for triggers: %s", exc)
            return True
        finally:
            self.listening = False
            conn.close()
        return False

    def _connect(self, stop: threading.Event, tried: threading.Event) -> psycopg.Connection[Any]:
        """A listening connection, tried again with backoff until one is made or the
        listener is stopped (``_Stopped``)."""
        import psycopg  # noqa: PLC0415

        def sleep(seconds: float) -> None:
            if stop.wait(seconds):
                raise _Stopped

        def log(state: tenacity.RetryCallState) -> None:
            tried.set()
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            logger.warning("cannot listen for triggers (trying again in %.1fs): %s", wait, error)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(psycopg.OperationalError),
            wait=tenacity.wait_random_exponential(
                multiplier=0.5, max=max(1.0, min(30.0, self._session_timeout))
            ),
            sleep=sleep,
            before_sleep=log,
            reraise=True,
        )

        def attempt() -> psycopg.Connection[Any]:
            if stop.is_set():
                raise _Stopped
            # A listener is idle by design: no idle_session_timeout may end it.
            conn = connect(
                self._url, self._name, self._session_timeout, {"idle_session_timeout": "0"}
            )
            try:
                conn.execute(f"LISTEN {CHANNEL}")
            except BaseException:
                conn.close()
                raise
            return conn

        return retrying(attempt)

    @staticmethod
    def _listen(
        conn: psycopg.Connection[Any], stop: threading.Event, heard: Callable[[str], None]
    ) -> None:
        while not stop.is_set():
            for note in conn.notifies(timeout=_POLL):
                if stop.is_set():
                    return
                heard(note.payload)
