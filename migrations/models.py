"""The audit store's tables: the models the migrations in ``versions/`` create.

The migrations own the schema, so the models live with them: ``env.py`` compares
these to the database, and ``plugin.audit`` reads and writes through them. This
module imports SQLAlchemy and SQLModel only (no web stack, nothing of ``plugin``).
A change here needs a new revision in ``versions/``; ``tests/test_store.py`` fails
while the models and the migrated database differ.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    text,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "AUDIT_METADATA",
    "NAMING_CONVENTION",
    "VERSION_TABLE",
    "AuditModel",
    "FleetCycle",
    "FleetRepoResult",
    "GitOperation",
    "ReconcileRun",
    "RepoCommit",
    "UTCDateTime",
    "WebhookDelivery",
]

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

VERSION_TABLE = "reconcile_alembic_version"  # not alembic_version: a host may use its own


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
    skipped_paths: list[str] | None = Field(default=None, sa_type=JSON)  # left out by exclude
    # What went wrong outside the result.
    error: str | None = Field(default=None, sa_type=Text)
    callback_error: str | None = Field(default=None, sa_type=Text)
    replica: str | None = None  # the replica that ran it (revision 0004)
    # What the repository's exec_hook did after the run, when it ran one (revision 0005).
    hook_status: str | None = None  # ok, failed, timed-out
    hook_exit_code: int | None = None
    hook_duration_ms: float | None = None
    hook_error: str | None = Field(default=None, sa_type=Text)
    hook_output: str | None = Field(default=None, sa_type=Text)  # its end, redacted


class GitOperation(AuditModel, table=True):
    """One git operation of a run (a network operation: fetch or push, retries included).

    What a fetch received and a push sent are the run's ``remote_commit`` and
    ``new_commit``: an operation records its refspecs, not commits (revision 0002
    dropped the ``commit`` column, which nothing ever filled).
    """

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
    kind: str  # fetch, push
    remote: str | None = None  # the remote's name
    remote_url: str | None = None  # redacted
    refs: list[str] = Field(default_factory=list, sa_type=JSON)
    status: str  # ok, failed, rejected, cancelled
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_ms: float
    attempts: int
    bytes: int = Field(sa_type=BigInteger)  # a large fetch passes 2 GiB
    objects: int
    error: str | None = Field(default=None, sa_type=Text)
    code: str | None = None


class RepoCommit(AuditModel, table=True):
    """A commit a run made (revision 0003): the commit on the branch after the run, the
    paths it changed, where its message came from, who wrote and committed it, whether
    it is signed, and how many earlier unpushed commits it absorbed."""

    __tablename__ = "reconcile_commit"
    __table_args__ = (
        Index(None, "repo", "created_at"),
        Index(None, "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_pk: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("reconcile_run.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    run_id: str
    repo: str
    branch: str | None = None
    sha: str
    paths_count: int
    paths: list[str] = Field(default_factory=list, sa_type=JSON)
    message: str | None = Field(default=None, sa_type=Text)
    message_source: str  # explicit, template, squash, or a generator's name
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str
    signed: bool = Field(sa_type=Boolean)
    squashed: int
    created_at: datetime = Field(sa_type=UTCDateTime)  # when the run finished
    # How it is signed (ssh, gpg), and why a message generator was skipped (0005).
    signature: str | None = None
    message_skipped: str | None = Field(default=None, sa_type=Text)


class WebhookDelivery(AuditModel, table=True):
    """One webhook delivery and what was done with it.

    Only verified deliveries claim their id (the partial unique index): an unsigned
    request cannot burn the id of a genuine delivery still to come. A verified
    delivery's row is written when its id is claimed (``received``) and then given
    its final ``result`` and matched ``repo``.
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
    result: str  # queued, present, ignored, unauthorized, too-large, malformed, ...
    received_at: datetime = Field(sa_type=UTCDateTime)


class FleetCycle(AuditModel, table=True):
    """One cycle of fleet mode (revision 0006): what asked for it, its push policy, when
    it started, when its commits (phase 1) and the whole cycle finished, its counts,
    and whether ``all-or-none`` held every push back."""

    __tablename__ = "reconcile_fleet_cycle"
    __table_args__ = (Index(None, "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(unique=True)
    trigger: str  # timer, manual, cli
    push_policy: str
    started_at: datetime = Field(sa_type=UTCDateTime)
    commits_finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_ms: float
    repos: int
    committed: int
    pushed: int
    failed: int
    held: bool = Field(sa_type=Boolean)


class FleetRepoResult(AuditModel, table=True):
    """One repository's part of a fleet cycle (revision 0006): its status and reason,
    the commit phase 1 made (with its message and where that came from), phase 2's
    outcome and push, and when each phase started and finished for it. Only results
    that did something, or did not end well, are kept (``unchanged`` and ``clean`` are
    counted in the cycle, not stored)."""

    __tablename__ = "reconcile_fleet_repo"
    __table_args__ = (Index(None, "repo", "cycle_pk"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_pk: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("reconcile_fleet_cycle.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    cycle_id: str
    repo: str  # the fleet's name of the repository
    path: str
    branch: str | None = None
    status: str
    reason: str | None = Field(default=None, sa_type=Text)
    sha: str | None = None  # the commit phase 1 made
    paths: list[str] | None = Field(default=None, sa_type=JSON)
    message: str | None = Field(default=None, sa_type=Text)
    message_source: str | None = None
    outcome: str | None = None  # phase 2's run
    push_status: str | None = None
    commit_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    commit_finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    push_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    push_finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
