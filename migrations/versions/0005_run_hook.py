"""reconcile_run.hook_*: what the repository's exec_hook did after each run; and
reconcile_commit.signature and message_skipped.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

A run that changed the repository runs its ``exec_hook``; the hook's status (``ok``,
``failed``, ``timed-out``), exit code, duration, error and the end of its output
(redacted) are kept with the run, so ``/history`` and ``git-reconcile history`` show
them after a restart. Rows stored before this revision, and runs without a hook,
have none (NULL). A commit's row says how it is signed (``ssh``, ``gpg``) and why
the message generator was skipped, when it was. On SQLite the tables are copied
(batch mode), keeping their rows and indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("hook_status", sa.String()),
    ("hook_exit_code", sa.Integer()),
    ("hook_duration_ms", sa.Float()),
    ("hook_error", sa.Text()),
    ("hook_output", sa.Text()),
)


_COMMIT_COLUMNS = (
    ("signature", sa.String()),
    ("message_skipped", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("reconcile_run") as batch:
        for name, kind in _COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("reconcile_commit") as batch:
        for name, kind in _COMMIT_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reconcile_commit") as batch:
        for name, _ in reversed(_COMMIT_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("reconcile_run") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
