"""The audit store: runs, their git operations, and webhook deliveries, in SQL.

SQLite (a file, WAL mode) by default, PostgreSQL when several replicas share one
database. The schema is owned by the Alembic migrations in the top-level
``migrations`` package, with the tables (``migrations.models``); :meth:`AuditStore.
upgrade` applies them.

No web stack here (no starlette, no anyio): every method is synchronous and opens
its own session, so it can be called from any thread (the plugin calls it through
``anyio.to_thread``), and the command line uses it without a server.

Nothing secret is stored: the URLs of a :class:`reconcile.Result` are already
redacted by the engine, and every free-text column is passed through
``reconcile.redact_text`` again on the way in, in case a host's callback error or a
server's message quotes a URL with credentials.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    create_engine,
    delete,
    func,
    insert,
    or_,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .._commits import CommitEntry
from .._errors import DuplicateRunError
from .._record import HISTORY_PAGE, RunRecord
from ._commit_queries import commit_statistics, commits_of, list_commits
from ._deliveries import DELIVERIES, DeliveryRow, triage, values
from ._rows import aware, commit_row, operation_rows, run_record, run_row
from ._schema import GitOperation, ReconcileRun, RepoCommit, WebhookDelivery, alembic_config
from ._sqlite import sqlite_engine

__all__ = ["AuditStore", "DeliveryRow"]

_LOCK_KEY = 0x6769_7472_6563_6F6E  # PostgreSQL advisory lock held while migrating ("gitrecon")


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
            self.engine: Engine = sqlite_engine(parsed, busy_timeout=busy_timeout, echo=echo)
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
        return alembic_config(self.url)

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

    # --- runs -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def record_run(self, record: RunRecord) -> int:
        """Store a finished run, its git operations and the commit it made, in one
        transaction. Returns the run's row id. Raises :class:`DuplicateRunError` when
        its run_id is stored."""
        run = run_row(record)
        operations = () if record.result is None else record.result.operations
        try:
            with self._session() as session:
                session.add(run)
                session.flush()
                assert run.id is not None
                session.add_all(operation_rows(run.id, operations))
                commit = commit_row(run.id, record)
                if commit is not None:
                    session.add(commit)
                session.commit()
        except IntegrityError as exc:
            if self._run_pk(record.run_id) is not None:
                raise DuplicateRunError(f"run {record.run_id!r} is already stored") from exc
            raise
        assert run.id is not None
        return run.id

    def _run_pk(self, run_id: str) -> int | None:
        query = select(ReconcileRun.id).where(ReconcileRun.run_id == run_id)
        with self._session() as session:
            return session.exec(query).first()

    def runs(
        self,
        repo: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = HISTORY_PAGE,
        before: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first (by finished_at, then the order they were stored in).

        ``before`` is the run id of the last run of the previous page: the page goes
        on after it. A run id that is not stored (pruned, so every older run is too)
        gives an empty page.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        conditions = _filters(repo, outcome, since)
        run_pk = col(ReconcileRun.id)
        finished = col(ReconcileRun.finished_at)
        with self._session() as session:
            if before is not None:
                cursor = session.exec(
                    select(ReconcileRun).where(ReconcileRun.run_id == before)
                ).first()
                if cursor is None:
                    return []
                conditions.append(
                    or_(
                        finished < cursor.finished_at,
                        and_(finished == cursor.finished_at, run_pk < cursor.id),
                    )
                )
            query = (
                select(ReconcileRun)
                .where(*conditions)
                .order_by(finished.desc(), run_pk.desc())
                .limit(limit)
            )
            rows = list(session.exec(query))
            pks = [r.id for r in rows if r.id is not None]
            operations = _operations_of(session, pks)
            commits = commits_of(session, pks)
        return [run_record(r, operations.get(r.id or 0, []), commits.get(r.id or 0)) for r in rows]

    def history(
        self,
        repo: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = HISTORY_PAGE,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        """:meth:`runs` in their JSON form, ``RunRecord.to_dict()``."""
        return [r.to_dict() for r in self.runs(repo, outcome, since, limit, before)]

    def count_runs(self, repo: str | None = None) -> int:
        """How many runs are stored (of ``repo``, when given)."""
        query = select(func.count()).select_from(ReconcileRun)
        if repo is not None:
            query = query.where(col(ReconcileRun.repo) == repo)
        with self._session() as session:
            return int(session.exec(query).one())

    # --- commits ----------------------------------------------------------------------

    def commits(
        self, repo: str | None = None, since: datetime | None = None, limit: int = 50
    ) -> list[CommitEntry]:
        """The commits runs made, newest first."""
        with self._session() as session:
            return list_commits(session, repo, since, limit)

    def commit_statistics(
        self, repo: str | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        """How many commits per repository, author, day (UTC) and message source."""
        with self._session() as session:
            return commit_statistics(session, self.dialect, repo, since)

    # --- webhook deliveries -----------------------------------------------------------

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
        row = WebhookDelivery(
            provider=str(provider),
            delivery_id=delivery_id or None,
            repo=repo,
            event=event,
            ref=ref,
            verified=bool(verified),
            result=result,
            received_at=_now() if received_at is None else aware(received_at, "received_at"),
        )
        return self._insert_delivery(row, since) is not None

    def record_deliveries(self, deliveries: Sequence[DeliveryRow], since: datetime) -> list[bool]:
        """Store verified deliveries, in one transaction: for each, what
        :meth:`record_delivery` with ``verified=True`` and ``since`` would answer (False:
        a delivery with its id is stored already, or comes earlier in ``deliveries``).

        One transaction and one commit for them all is what lets a webhook intake keep
        up under load. Should another writer store one of these ids meanwhile, the
        transaction is undone and each delivery is recorded on its own instead.
        """
        since = aware(since, "since")
        now = _now()
        try:
            with self._session() as session:
                stored = self._stored_at(session, deliveries)
                answers, new, old = triage(deliveries, stored, since)
                if new:
                    session.exec(insert(DELIVERIES), params=[values(d, now) for d in new])
                taken = all(self._taken_over(session, d, since, now) for d in old)
                if taken:
                    session.commit()
                    return answers
                session.rollback()
        except IntegrityError:
            pass
        return [self._record_one(delivery, since) for delivery in deliveries]

    def _record_one(self, delivery: DeliveryRow, since: datetime) -> bool:
        provider, delivery_id, repo, event, ref, result = delivery
        return self.record_delivery(
            provider, delivery_id, repo, event, ref, True, result, since=since
        )

    def _stored_at(
        self, session: Session, deliveries: Sequence[DeliveryRow]
    ) -> dict[tuple[str, str], datetime]:
        """When each verified delivery of these ids (by provider) was received."""
        ids = sorted({d[1] for d in deliveries if d[1]})
        if not ids:
            return {}
        query = select(
            WebhookDelivery.provider, WebhookDelivery.delivery_id, WebhookDelivery.received_at
        ).where(col(WebhookDelivery.verified).is_(True), col(WebhookDelivery.delivery_id).in_(ids))
        return {
            (provider, delivery_id): aware(received, "received_at")
            for provider, delivery_id, received in session.exec(query)
            if delivery_id is not None
        }

    def _taken_over(
        self, session: Session, delivery: DeliveryRow, since: datetime, now: datetime
    ) -> bool:
        """Take over the claim of ``delivery``'s id, older than ``since``, in ``session``."""
        provider, delivery_id, repo, event, ref, result = delivery
        take_over = (
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.provider) == provider,
                col(WebhookDelivery.delivery_id) == delivery_id,
                col(WebhookDelivery.verified).is_(True),
                col(WebhookDelivery.received_at) < since,
            )
            .values(repo=repo, event=event, ref=ref, result=result, received_at=now)
        )
        return bool(session.exec(take_over).rowcount == 1)

    def claim_delivery(
        self, provider: str, delivery_id: str, event: str | None, ref: str | None, since: datetime
    ) -> int | None:
        """Claim the id of a verified delivery, atomically, as ``received``: the row id
        when this is its first delivery (or its claim is older than ``since``), None
        when it is a duplicate. :meth:`settle_delivery` then records what became of it.
        Of several replicas claiming one id at once, exactly one gets a row id."""
        row = WebhookDelivery(
            provider=str(provider),
            delivery_id=delivery_id,
            event=event,
            ref=ref,
            verified=True,
            result="received",
            received_at=_now(),
        )
        return self._insert_delivery(row, since)

    def settle_delivery(self, row_id: int, result: str, repo: str | None) -> None:
        """Record the final result of the claimed delivery ``row_id`` and the repository
        it was matched to."""
        settle = (
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == row_id)
            .values(result=result, repo=repo)
        )
        with self._session() as session:
            session.exec(settle)
            session.commit()

    def _insert_delivery(self, row: WebhookDelivery, since: datetime | None) -> int | None:
        """Insert ``row``; its id, or None when its delivery id is claimed (and the claim
        is not older than ``since``, when given)."""
        try:
            with self._session() as session:
                session.add(row)
                session.commit()
                return row.id
        except IntegrityError:
            if since is None:
                return None
        return self._take_over(row, aware(since, "since"))

    def _take_over(self, row: WebhookDelivery, since: datetime) -> int | None:
        """Take over a claim older than ``since``. The UPDATE checks the age itself, so
        of two replicas only one can win."""
        claimed = (
            col(WebhookDelivery.provider) == row.provider,
            col(WebhookDelivery.delivery_id) == row.delivery_id,
            col(WebhookDelivery.verified).is_(True),
        )
        take_over = (
            update(WebhookDelivery)
            .where(*claimed, col(WebhookDelivery.received_at) < since)
            .values(
                repo=row.repo,
                event=row.event,
                ref=row.ref,
                result=row.result,
                received_at=row.received_at,
            )
        )
        with self._session() as session:
            done = session.exec(take_over)
            if done.rowcount != 1:
                session.rollback()
                return None
            taken = session.exec(select(WebhookDelivery.id).where(*claimed)).one()
            session.commit()
            return taken

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
                col(WebhookDelivery.received_at) >= aware(since, "since"),
            )
            .limit(1)
        )
        with self._session() as session:
            return session.exec(query).first() is not None

    # --- retention --------------------------------------------------------------------

    def prune(self, older_than: datetime) -> int:
        """Delete the runs that finished before ``older_than`` (with their operations and
        commits) and the deliveries received before it. Returns how many rows went,
        operations and commits included."""
        cutoff = aware(older_than, "older_than")
        old_runs = select(ReconcileRun.id).where(col(ReconcileRun.finished_at) < cutoff)
        with self._session() as session:
            # Operations explicitly: SQLite's foreign keys are off (see _sqlite.py); on
            # PostgreSQL, ON DELETE CASCADE also catches a run recorded meanwhile.
            gone = session.exec(
                delete(GitOperation).where(col(GitOperation.run_pk).in_(old_runs))
            ).rowcount
            gone += session.exec(
                delete(RepoCommit).where(col(RepoCommit.run_pk).in_(old_runs))
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


def _filters(
    repo: str | None, outcome: str | None, since: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if repo is not None:
        conditions.append(col(ReconcileRun.repo) == repo)
    if outcome is not None:
        conditions.append(col(ReconcileRun.outcome) == str(outcome))
    if since is not None:
        conditions.append(col(ReconcileRun.finished_at) >= aware(since, "since"))
    return conditions


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


def _now() -> datetime:
    return datetime.now(UTC)
