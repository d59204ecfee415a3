"""endorsement time and signer

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 20:15:17.705525
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
    with op.batch_alter_table("endorsements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("integrated_time", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("signer_key_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_endorsements_component_time", ["component", "integrated_time"], unique=False
        )

    # Existing logged endorsements take both values from their entry; an unlogged one's signer
    # is known only when it is verified again.
    op.execute(
        "UPDATE endorsements SET "
        "integrated_time = (SELECT entries.integrated_time FROM entries "
        "WHERE entries.id = endorsements.entry_pk), "
        "signer_key_sha256 = (SELECT entries.signer_key_sha256 FROM entries "
        "WHERE entries.id = endorsements.entry_pk) "
        "WHERE entry_pk IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("endorsements", schema=None) as batch_op:
        batch_op.drop_index("ix_endorsements_component_time")
        batch_op.drop_column("signer_key_sha256")
        batch_op.drop_column("integrated_time")
