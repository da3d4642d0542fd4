"""Drop reconcile_git_operation.commit: nothing ever filled it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

A network operation of the engine records its refspecs, not a commit; what a fetch
received and what a push sent are the run's ``remote_commit`` and ``new_commit``.
The column stayed NULL in every row, so dropping it loses nothing. On SQLite the
table is copied (batch mode), keeping its rows, index and foreign key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reconcile_git_operation") as batch:
        batch.drop_column("commit")


def downgrade() -> None:
    with op.batch_alter_table("reconcile_git_operation") as batch:
        batch.add_column(sa.Column("commit", sa.String(), nullable=True))
