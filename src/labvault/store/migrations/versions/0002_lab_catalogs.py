"""lab catalogs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 05:56:25.273716
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
    op.create_table(
        "lab_catalogs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_lab_catalogs_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_catalogs")),
    )
    with op.batch_alter_table("lab_catalogs", schema=None) as batch_op:
        batch_op.create_index("ix_lab_catalogs_lab_revision", ["lab_id", "revision"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("lab_catalogs", schema=None) as batch_op:
        batch_op.drop_index("ix_lab_catalogs_lab_revision")

    op.drop_table("lab_catalogs")
