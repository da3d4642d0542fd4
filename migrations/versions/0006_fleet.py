"""Fleet mode: reconcile_fleet_cycle (one cycle) and reconcile_fleet_repo (a repository's
part of it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

(Plain SQLAlchemy types, as in 0001: this file imports neither sqlmodel nor the models.)
A cycle's row holds what asked for it, its push policy, its times (started, commits
finished, finished), its counts and whether all-or-none held every push back; each
repository that did something in it, or did not end well, gets a row with its
status, reason, the commit phase 1 made, phase 2's outcome and push, and each
phase's times. The repository rows go with their cycle (ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconcile_fleet_cycle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("push_policy", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("commits_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("repos", sa.Integer(), nullable=False),
        sa.Column("committed", sa.Integer(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_fleet_cycle")),
        sa.UniqueConstraint("cycle_id", name=op.f("uq_reconcile_fleet_cycle_cycle_id")),
    )
    op.create_index(
        op.f("ix_reconcile_fleet_cycle_started_at"), "reconcile_fleet_cycle", ["started_at"]
    )
    op.create_table(
        "reconcile_fleet_repo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_pk", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("repo", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("branch", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("sha", sa.String(), nullable=True),
        sa.Column("paths", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("message_source", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("push_status", sa.String(), nullable=True),
        sa.Column("commit_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("commit_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("push_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("push_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_pk"],
            ["reconcile_fleet_cycle.id"],
            name=op.f("fk_reconcile_fleet_repo_cycle_pk_reconcile_fleet_cycle"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_fleet_repo")),
    )
    op.create_index(op.f("ix_reconcile_fleet_repo_cycle_pk"), "reconcile_fleet_repo", ["cycle_pk"])
    op.create_index(
        op.f("ix_reconcile_fleet_repo_repo_cycle_pk"), "reconcile_fleet_repo", ["repo", "cycle_pk"]
    )


def downgrade() -> None:
    op.drop_table("reconcile_fleet_repo")
    op.drop_table("reconcile_fleet_cycle")
