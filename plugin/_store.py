"""The audit store: runs, their git operations, and webhook deliveries, in SQL.

SQLite (a file, WAL mode) by default, PostgreSQL when several replicas share one
database. The schema is owned by the Alembic migrations in the top-level
``migrations`` package; :meth:`AuditStore.upgrade` applies them.

This module imports only the standard library, SQLAlchemy, SQLModel and Alembic at
module level (``migrations/env.py`` imports it for the models): no starlette, no
anyio, and the ``reconcile`` package only when a run is recorded. Every method is
synchronous and opens its own session, so it can be called from any thread (the
plugin calls it through ``anyio.to_thread``).

Nothing secret is stored: the URLs of a :class:`reconcile.Result` are already
redacted by the engine, and every free-text column is passed through
``reconcile.redact_text`` again on the way in, in case a host's callback error or a
server's message quotes a URL with credentials.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    and_,
    create_engine,
    delete,
    func,
    or_,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.event import listen
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, col, select

from ._errors import DuplicateRunError

if TYPE_CHECKING:
    from reconcile import NetworkOperation, Result

__all__ = [
    "AUDIT_METADATA",
    "VERSION_TABLE",
    "AuditModel",
    "AuditStore",
    "DuplicateRunError",
    "GitOperation",
    "ReconcileRun",
    "RunLike",
    "UTCDateTime",
    "WebhookDelivery",
    "migrations_directory",
]

logger = logging.getLogger("plugin.store")

# Constraint and index names are fixed by convention, so the migrations name them the
# same way on every database and a later migration can drop them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The audit models have their own metadata, so a host application's SQLModel tables
# never end up in our migrations, and ours never in theirs.
AUDIT_METADATA = MetaData(naming_convention=NAMING_CONVENTION)
_registry = registry(metadata=AUDIT_METADATA)

_TEXT_LIMIT = 16_384  # characters kept of a free-text column (an error, a reason)
VERSION_TABLE = "reconcile_alembic_version"  # not alembic_version: a host may use its own
_LOCK_KEY = 0x6769_7472_6563_6F6E  # PostgreSQL advisory lock held while migrating ("gitrecon")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC text and given back its UTC zone when read. Naive datetimes
    are refused: which zone they meant cannot be known.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class AuditModel(SQLModel, registry=_registry):
    """Base of the audit tables: their own registry and metadata."""


class ReconcileRun(AuditModel, table=True):
    """One run of a runner: its triggers, its timing, and the result's fields."""

    __tablename__ = "reconcile_run"
    __table_args__ = (
        Index(None, "repo", "finished_at"),
        Index(None, "outcome", "finished_at"),
        Index(None, "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(unique=True)
    repo: str
    trigger: str  # the first trigger: boot, webhook, poll, manual, cli
    triggers: str  # every trigger coalesced into the run, comma-joined
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime = Field(sa_type=UTCDateTime)
    duration_ms: float | None = None  # started -> finished, lock wait and callback included
    lock_wait_ms: float | None = None
    # The result; all None when the run ended in an error instead.
    outcome: str | None = None
    repo_path: str | None = None
    remote: str | None = None
    branch: str | None = None
    old_commit: str | None = None
    new_commit: str | None = None
    remote_commit: str | None = None
    ahead: int | None = None
    behind: int | None = None
    conflict_branch: str | None = None
    push_status: str | None = None
    push_attempts: int | None = None
    push_error: str | None = Field(default=None, sa_type=Text)
    push_reason: str | None = None
    reason: str | None = Field(default=None, sa_type=Text)
    reconcile_ms: float | None = None  # the engine's own duration
    conflict_paths: list[str] | None = Field(default=None, sa_type=JSON)
    escaped_commits: list[str] | None = Field(default=None, sa_type=JSON)
    # What went wrong outside the result.
    error: str | None = Field(default=None, sa_type=Text)
    callback_error: str | None = Field(default=None, sa_type=Text)


class GitOperation(AuditModel, table=True):
    """One git operation of a run (a network operation: fetch or push, retries included)."""

    __tablename__ = "reconcile_git_operation"

    id: int | None = Field(default=None, primary_key=True)
    run_pk: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("reconcile_run.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    position: int  # its place in the run's operations
    kind: str  # fetch, push (and, for other kinds of record: rebase, checkout, escape)
    remote: str | None = None  # the remote's name
    remote_url: str | None = None  # redacted
    refs: list[str] = Field(default_factory=list, sa_type=JSON)
    commit: str | None = None
    status: str  # ok, failed, rejected, cancelled
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_ms: float
    attempts: int
    bytes: int = Field(sa_type=BigInteger)  # a large fetch passes 2 GiB
    objects: int
    error: str | None = Field(default=None, sa_type=Text)
    code: str | None = None


class WebhookDelivery(AuditModel, table=True):
    """One webhook delivery and what was done with it.

    Only verified deliveries claim their id (the partial unique index): an unsigned
    request cannot burn the id of a genuine delivery still to come.
    """

    __tablename__ = "reconcile_webhook_delivery"
    __table_args__ = (
        Index(
            "uq_reconcile_webhook_delivery_provider_delivery_id",
            "provider",
            "delivery_id",
            unique=True,
            sqlite_where=text("verified"),
            postgresql_where=text("verified"),
        ),
        Index(None, "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str
    delivery_id: str | None = None
    repo: str | None = None
    event: str | None = None
    ref: str | None = None
    verified: bool = Field(sa_type=Boolean)
    result: str  # queued, ignored, present, duplicate, rejected, pong, ...
    received_at: datetime = Field(sa_type=UTCDateTime)


class RunLike(Protocol):
    """What :meth:`AuditStore.record_run` reads of a ``plugin.RunRecord``."""

    run_id: str
    repo: str
    triggers: list[str]
    queued_at: float
    started_at: float | None
    finished_at: float | None
    result: Result | None
    error: str | None
    callback_error: str | None


# --- conversions -----------------------------------------------------------------------


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment


def _clean(value: str | None) -> str | None:
    """Mask credentials in a free text and cap its length."""
    if value is None:
        return None
    from reconcile import redact_text

    value = redact_text(value)
    if len(value) > _TEXT_LIMIT:
        value = value[: _TEXT_LIMIT - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return value


def _clean_url(value: str) -> str:
    from reconcile import redact_url

    return redact_url(value)


def _run_row(record: RunLike) -> ReconcileRun:
    finished = record.finished_at
    if finished is None:  # never ran (refused at shutdown): it ended when it was recorded
        finished = record.started_at if record.started_at is not None else record.queued_at
    started = record.started_at
    triggers = [t for t in record.triggers if t]
    row = ReconcileRun(
        run_id=record.run_id,
        repo=record.repo,
        trigger=triggers[0] if triggers else "unknown",
        triggers=",".join(triggers),
        queued_at=_utc(record.queued_at),
        started_at=_utc(started),
        finished_at=datetime.fromtimestamp(finished, UTC),
        duration_ms=None if started is None else max(0.0, (finished - started) * 1000.0),
        error=_clean(record.error),
        callback_error=_clean(record.callback_error),
    )
    lock_wait = getattr(record, "lock_wait_seconds", None)
    if isinstance(lock_wait, int | float):
        row.lock_wait_ms = float(lock_wait) * 1000.0
    result = record.result
    if result is not None:
        row.outcome = str(result.outcome.value)
        row.repo_path = result.repo
        row.remote = result.remote
        row.branch = result.branch
        row.old_commit = result.old_commit
        row.new_commit = result.new_commit
        row.remote_commit = result.remote_commit
        row.ahead = result.ahead
        row.behind = result.behind
        row.conflict_branch = result.conflict_branch
        row.push_status = str(result.push.status.value)
        row.push_attempts = result.push.attempts
        row.push_error = _clean(result.push.error)
        row.push_reason = result.push.reason
        row.reason = _clean(result.reason)
        row.reconcile_ms = result.duration_ms
        row.conflict_paths = list(result.conflict_paths)
        row.escaped_commits = list(result.escaped_commits)
    return row


def _operation_row(run_pk: int, position: int, op: NetworkOperation) -> GitOperation:
    return GitOperation(
        run_pk=run_pk,
        position=position,
        kind=op.kind,
        remote=op.remote,
        remote_url=_clean_url(op.url),
        refs=list(op.refs),
        commit=getattr(op, "commit", None),
        status=op.result,
        started_at=_utc(op.started_at),
        duration_ms=op.duration_ms,
        attempts=op.attempts,
        bytes=op.bytes,
        objects=op.objects,
        error=_clean(op.error),
        code=op.code,
    )


def _operations_of(session: Session, run_pks: Sequence[int]) -> dict[int, list[GitOperation]]:
    found: dict[int, list[GitOperation]] = {}
    if run_pks:
        query = (
            select(GitOperation)
            .where(col(GitOperation.run_pk).in_(run_pks))
            .order_by(col(GitOperation.run_pk), col(GitOperation.position))
        )
        for op in session.exec(query):
            found.setdefault(op.run_pk, []).append(op)
    return found


def _operation_dict(op: GitOperation) -> dict[str, Any]:
    return {
        "kind": op.kind,
        "remote": op.remote,
        "url": op.remote_url,
        "refs": list(op.refs or ()),
        "commit": op.commit,
        "started_at": _epoch(op.started_at),
        "duration_ms": round(op.duration_ms, 3),
        "attempts": op.attempts,
        "bytes": op.bytes,
        "objects": op.objects,
        "result": op.status,
        "error": op.error,
        "code": op.code,
    }


def _run_dict(run: ReconcileRun, operations: Sequence[GitOperation]) -> dict[str, Any]:
    result: dict[str, Any] | None = None
    if run.outcome is not None:
        result = {
            "repo": run.repo_path,
            "remote": run.remote,
            "branch": run.branch,
            "outcome": run.outcome,
            "old_commit": run.old_commit,
            "new_commit": run.new_commit,
            "remote_commit": run.remote_commit,
            "ahead": run.ahead,
            "behind": run.behind,
            "conflict_branch": run.conflict_branch,
            "push": {
                "status": run.push_status,
                "attempts": run.push_attempts,
                "error": run.push_error,
                "reason": run.push_reason,
            },
            "reason": run.reason,
            "duration_ms": None if run.reconcile_ms is None else round(run.reconcile_ms, 3),
            "conflict_paths": list(run.conflict_paths or ()),
            "escaped_commits": list(run.escaped_commits or ()),
            "operations": [_operation_dict(op) for op in operations],
        }
    return {
        "id": run.id,
        "run_id": run.run_id,
        "repo": run.repo,
        "trigger": run.trigger,
        "triggers": run.triggers.split(",") if run.triggers else [],
        "queued_at": _epoch(run.queued_at),
        "started_at": _epoch(run.started_at),
        "finished_at": _epoch(run.finished_at),
        "duration_ms": None if run.duration_ms is None else round(run.duration_ms, 3),
        "lock_wait_seconds": None if run.lock_wait_ms is None else round(run.lock_wait_ms / 1e3, 6),
        "result": result,
        "error": run.error,
        "callback_error": run.callback_error,
    }


# --- the store -------------------------------------------------------------------------


def migrations_directory() -> Path:
    """Where the installed ``migrations`` package is (works from a wheel, whatever the
    current directory)."""
    package = importlib.import_module("migrations")
    mark = getattr(package, "AUDIT_STORE_MIGRATIONS", None)
    if package.__file__ is None or mark != "git-reconcile":
        where = package.__file__ or list(getattr(package, "__path__", []))
        raise RuntimeError(
            f"the importable 'migrations' package ({where}) is not git-reconcile's: "
            "another package of that name comes first on sys.path"
        )
    return Path(package.__file__).resolve().parent


def _sqlite_wal(cursor: sqlite3.Cursor, busy_timeout: float) -> None:
    """Put the database in WAL mode (it stays so: this is a no-op once done).

    Switching needs the database to itself, and SQLite answers "database is locked"
    at once, without its busy handler, while another connection is using it: so the
    switch is retried for up to the busy timeout (it only happens on a new file).
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        try:
            mode = str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
    if mode.lower() != "wal":
        logger.warning("the audit database could not use WAL mode (journal mode %s)", mode)


def _sqlite_on_connect(busy_timeout: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _sqlite_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL
            # Foreign keys stay off (SQLite's default): the store writes operations only
            # with their run, prune() deletes them explicitly, and with them on a batch
            # migration's copy-and-drop of reconcile_run would cascade to the operations.
        finally:
            cursor.close()

    return on_connect


class AuditStore:
    """The audit database: ``sqlite:///path/to/audit.db`` or
    ``postgresql+psycopg://user@host/db``. Thread-safe; call :meth:`upgrade` once
    before use, and :meth:`close` at the end."""

    def __init__(self, url: str, *, busy_timeout: float = 30.0, echo: bool = False) -> None:
        parsed = make_url(url)
        if parsed.drivername in ("postgres", "postgresql"):  # psycopg 3, not psycopg2
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            database = parsed.database
            if not database or database == ":memory:" or database.startswith("file:"):
                raise ValueError(
                    "the SQLite audit store must be a file: sqlite:///path/to/audit.db"
                )
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                parsed,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": busy_timeout},
                pool_size=8,
                max_overflow=16,
            )
            listen(self.engine, "connect", _sqlite_on_connect(busy_timeout))
        elif self.dialect == "postgresql":
            connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
            self.engine = create_engine(
                parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args
            )
        else:
            raise ValueError(f"unsupported audit database {parsed.drivername!r}")
        self._upgrade_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AuditStore({self.url.render_as_string(hide_password=True)!r})"

    # --- schema -----------------------------------------------------------------------

    def alembic_config(self) -> Config:
        """An Alembic configuration for this database, built in code (no alembic.ini)."""
        config = Config()
        config.set_main_option("path_separator", "os")  # paths may hold spaces or commas
        location = str(migrations_directory())
        config.set_main_option("script_location", location.replace("%", "%%"))
        config.set_main_option(
            "sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%")
        )
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` (all of them by default), in one
        transaction. Several processes may do it at once (replicas starting together):
        the first takes a database-wide lock, the others wait, then find nothing to do."""
        with self._upgrade_lock, self.engine.begin() as connection:
            if self.dialect == "sqlite":
                # Take the write lock now, so the migration is one transaction, DDL
                # included (pysqlite would otherwise run DDL outside any transaction).
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            config = self.alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    # --- writing ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def record_run(self, record: RunLike) -> int:
        """Store a finished run and its git operations, in one transaction. Returns the
        run's row id. Raises :class:`DuplicateRunError` when its run_id is stored."""
        run = _run_row(record)
        operations = () if record.result is None else record.result.operations
        try:
            with self._session() as session:
                session.add(run)
                session.flush()
                assert run.id is not None
                session.add_all(
                    _operation_row(run.id, position, op) for position, op in enumerate(operations)
                )
                session.commit()
        except IntegrityError as exc:
            if self._run_exists(record.run_id):
                raise DuplicateRunError(f"run {record.run_id!r} is already stored") from exc
            raise
        assert run.id is not None
        return run.id

    def _run_exists(self, run_id: str) -> bool:
        query = select(ReconcileRun.id).where(ReconcileRun.run_id == run_id)
        with self._session() as session:
            return session.exec(query).first() is not None

    def record_delivery(  # noqa: PLR0917  (the positional order is the agreed API)
        self,
        provider: str,
        delivery_id: str | None,
        repo: str | None,
        event: str | None,
        ref: str | None,
        verified: bool,
        result: str,
        *,
        received_at: datetime | None = None,
        since: datetime | None = None,
    ) -> bool:
        """Store a webhook delivery. False when a verified delivery with this id is
        already stored (received at or after ``since``, when given: an older one is
        taken over, so an operator's redelivery after the dedupe window runs again).

        Only verified deliveries take part in dedupe: unverified ones, and ones
        without an id, are always stored and return True.
        """
        now = _now() if received_at is None else _aware(received_at, "received_at")
        row = WebhookDelivery(
            provider=str(provider),
            delivery_id=delivery_id or None,
            repo=repo,
            event=event,
            ref=ref,
            verified=bool(verified),
            result=result,
            received_at=now,
        )
        try:
            with self._session() as session:
                session.add(row)
                session.commit()
                return True
        except IntegrityError:
            if since is None:
                return False
        # The id is claimed: take the claim over if it is older than the window. The
        # UPDATE checks the age itself, so of two replicas only one can win.
        take_over = (
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.provider) == str(provider),
                col(WebhookDelivery.delivery_id) == delivery_id,
                col(WebhookDelivery.verified).is_(True),
                col(WebhookDelivery.received_at) < _aware(since, "since"),
            )
            .values(repo=repo, event=event, ref=ref, result=result, received_at=now)
        )
        with self._session() as session:
            done = session.exec(take_over)
            session.commit()
            return bool(done.rowcount == 1)

    # --- reading ----------------------------------------------------------------------

    def seen_delivery(self, provider: str, delivery_id: str | None, since: datetime) -> bool:
        """Whether a verified delivery with this id was received at or after ``since``."""
        if not delivery_id:
            return False
        query = (
            select(WebhookDelivery.id)
            .where(
                col(WebhookDelivery.provider) == str(provider),
                col(WebhookDelivery.delivery_id) == delivery_id,
                col(WebhookDelivery.verified).is_(True),
                col(WebhookDelivery.received_at) >= _aware(since, "since"),
            )
            .limit(1)
        )
        with self._session() as session:
            return session.exec(query).first() is not None

    def history(
        self,
        repo: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first (by finished_at, then id), shaped like
        ``RunRecord.to_dict()`` plus ``id``. The next page: ``before_id`` = the ``id``
        of the last run of this one."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        run_pk = col(ReconcileRun.id)
        finished = col(ReconcileRun.finished_at)
        conditions: list[ColumnElement[bool]] = []
        if repo is not None:
            conditions.append(col(ReconcileRun.repo) == repo)
        if outcome is not None:
            conditions.append(col(ReconcileRun.outcome) == str(outcome))
        if since is not None:
            conditions.append(finished >= _aware(since, "since"))
        with self._session() as session:
            if before_id is not None:
                cursor = session.get(ReconcileRun, before_id)
                if cursor is None:  # pruned meanwhile: go on from its id alone
                    conditions.append(run_pk < before_id)
                else:
                    conditions.append(
                        or_(
                            finished < cursor.finished_at,
                            and_(finished == cursor.finished_at, run_pk < before_id),
                        )
                    )
            query = (
                select(ReconcileRun)
                .where(*conditions)
                .order_by(finished.desc(), run_pk.desc())
                .limit(limit)
            )
            runs = list(session.exec(query))
            operations = _operations_of(session, [r.id for r in runs if r.id is not None])
        return [_run_dict(r, operations.get(r.id or 0, [])) for r in runs]

    def count_runs(self, repo: str | None = None) -> int:
        """How many runs are stored (of ``repo``, when given)."""
        query = select(func.count()).select_from(ReconcileRun)
        if repo is not None:
            query = query.where(col(ReconcileRun.repo) == repo)
        with self._session() as session:
            return int(session.exec(query).one())

    # --- retention --------------------------------------------------------------------

    def prune(self, older_than: datetime) -> int:
        """Delete the runs that finished before ``older_than`` (with their operations)
        and the deliveries received before it. Returns how many rows went, operations
        included."""
        cutoff = _aware(older_than, "older_than")
        old_runs = select(ReconcileRun.id).where(col(ReconcileRun.finished_at) < cutoff)
        with self._session() as session:
            # Operations explicitly: SQLite's foreign keys are off (see _sqlite_on_connect);
            # on PostgreSQL, ON DELETE CASCADE also catches a run recorded meanwhile.
            gone = session.exec(
                delete(GitOperation).where(col(GitOperation.run_pk).in_(old_runs))
            ).rowcount
            gone += session.exec(
                delete(ReconcileRun).where(col(ReconcileRun.finished_at) < cutoff)
            ).rowcount
            gone += session.exec(
                delete(WebhookDelivery).where(col(WebhookDelivery.received_at) < cutoff)
            ).rowcount
            session.commit()
        return int(gone)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> datetime:
    return datetime.now(UTC)
