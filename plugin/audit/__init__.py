"""The audit store: every run (with its git operations and the commit it made) and
every webhook delivery, in SQLite or PostgreSQL.

>>> with AuditStore("sqlite:////var/lib/git-reconcile/audit.db") as store:  # doctest: +SKIP
...     store.upgrade()
...     last = store.runs(repo="data", limit=1)

The tables are those of ``migrations.models`` (re-exported here), created by the
Alembic migrations of the ``migrations`` package; :meth:`AuditStore.upgrade`
applies them.
"""

from __future__ import annotations

from .._errors import DuplicateRunError
from ._schema import (
    AUDIT_METADATA,
    VERSION_TABLE,
    AuditModel,
    GitOperation,
    ReconcileRun,
    RepoCommit,
    UTCDateTime,
    WebhookDelivery,
    migrations_directory,
)
from ._store import AuditStore

__all__ = [
    "AUDIT_METADATA",
    "VERSION_TABLE",
    "AuditModel",
    "AuditStore",
    "DuplicateRunError",
    "GitOperation",
    "ReconcileRun",
    "RepoCommit",
    "UTCDateTime",
    "WebhookDelivery",
    "migrations_directory",
]
