"""reconcile_run.replica: which replica ran each run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

With several replicas sharing one PostgreSQL audit store, a run's row says which
one ran it (its configured ``replica_id``; by default host name and pid). Rows
stored before this revision have none (NULL). On SQLite the table is copied (batch
mode), keeping its rows and indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reconcile_run") as batch:
        batch.add_column(sa.Column("replica", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reconcile_run") as batch:
        batch.drop_column("replica")
