"""The write path: reconcile_commit (a commit a run made) and reconcile_run.skipped_paths.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Every commit a run creates gets a row: the commit on the branch after the run, the
paths it changed, where its message came from, author, committer, whether it is
signed and how many earlier unpushed commits it absorbed; it goes with its run
(ON DELETE CASCADE, and the store prunes it with the run). The run keeps the paths
its commit left out because they matched ``exclude``. Older runs keep NULL there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconcile_commit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("repo", sa.String(), nullable=False),
        sa.Column("branch", sa.String(), nullable=True),
        sa.Column("sha", sa.String(), nullable=False),
        sa.Column("paths_count", sa.Integer(), nullable=False),
        sa.Column("paths", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("message_source", sa.String(), nullable=False),
        sa.Column("author_name", sa.String(), nullable=False),
        sa.Column("author_email", sa.String(), nullable=False),
        sa.Column("committer_name", sa.String(), nullable=False),
        sa.Column("committer_email", sa.String(), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("squashed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["reconcile_run.id"],
            name=op.f("fk_reconcile_commit_run_pk_reconcile_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_commit")),
    )
    op.create_index(op.f("ix_reconcile_commit_run_pk"), "reconcile_commit", ["run_pk"])
    op.create_index(
        op.f("ix_reconcile_commit_repo_created_at"), "reconcile_commit", ["repo", "created_at"]
    )
    op.create_index(op.f("ix_reconcile_commit_created_at"), "reconcile_commit", ["created_at"])
    with op.batch_alter_table("reconcile_run") as batch:
        batch.add_column(sa.Column("skipped_paths", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reconcile_run") as batch:
        batch.drop_column("skipped_paths")
    op.drop_table("reconcile_commit")
