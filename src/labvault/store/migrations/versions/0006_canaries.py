"""canaries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 11:30:00
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
        "canaries",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("planted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_canaries_lab_id_labs")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_canaries_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canaries")),
    )
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.create_index("ix_canaries_lab_patient", ["lab_id", "patient_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_canaries_lab_id"), ["lab_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canaries_lab_id"))
        batch_op.drop_index("ix_canaries_lab_patient")
    op.drop_table("canaries")
