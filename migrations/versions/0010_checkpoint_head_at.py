"""when the log last served a checkpoint as its head

checkpoints.head_at: when the log last answered GET /log with this checkpoint (null: seen only
in an entry's inclusion proof or a receipt, which may be years old). A head is the log's word
that its tree had that size then: an entry at a later leaf integrated before it was backdated.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("head_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_column("head_at")
