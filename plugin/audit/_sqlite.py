"""The SQLite audit database: a file in WAL mode, with a busy timeout, so runs in
worker threads and several processes can write to it at once."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tenacity
from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.event import listen
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["sqlite_engine"]

logger = logging.getLogger("plugin.store")


def sqlite_engine(url: URL, *, busy_timeout: float, echo: bool) -> Engine:
    """An engine on the SQLite file of ``url`` (its directory is created), each of
    whose connections waits up to ``busy_timeout`` seconds for a lock.

    Raises ``ValueError`` when ``url`` is not a file (in memory, or a ``file:`` URI):
    the store is shared by threads and processes, which an in-memory database is not.
    """
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError("the SQLite audit store must be a file: sqlite:///path/to/audit.db")
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
        pool_size=8,
        max_overflow=16,
    )
    listen(engine, "connect", _on_connect(busy_timeout))
    return engine


def _on_connect(busy_timeout: float) -> Callable[[Any, ConnectionPoolEntry], None]:
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL
            # Foreign keys stay off (SQLite's default): the store writes operations only
            # with their run, prune() deletes them explicitly, and with them on a batch
            # migration's copy-and-drop of reconcile_run would cascade to the operations.
        finally:
            cursor.close()

    return on_connect


def _wal(cursor: sqlite3.Cursor, busy_timeout: float) -> None:
    """Put the database in WAL mode (it stays so: this is a no-op once done).

    Switching needs the database to itself, and SQLite answers "database is locked"
    at once, without its busy handler, while another connection is using it: so the
    switch is retried for up to the busy timeout (it only happens on a new file).
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    switching = tenacity.Retrying(
        stop=tenacity.stop_after_delay(busy_timeout),
        wait=tenacity.wait_exponential(multiplier=0.005, max=0.1),
        retry=tenacity.retry_if_exception(_locked),
        reraise=True,
    )
    mode = switching(lambda: str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]))
    if mode.lower() != "wal":
        logger.warning("the audit database could not use WAL mode (journal mode %s)", mode)


def _locked(exc: BaseException) -> bool:
    """SQLite's "database is locked", which waiting fixes."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
