"""access policy: time-limited break-the-glass overrides per patient, support grants

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Overrides recorded before this revision were single reads: they keep no patient and no expiry,
    # so they open nothing now.
    with op.batch_alter_table("access_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_access_overrides_actor_patient", ["lab_id", "actor_id", "patient_id"], unique=False
        )

    op.create_table(
        "support_grants",
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("granted_by", sa.Uuid(), nullable=True),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_support_grants_lab_id_labs")),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["users.id"], name=op.f("fk_support_grants_operator_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_grants")),
    )
    with op.batch_alter_table("support_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_grants_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_support_grants_operator", ["lab_id", "operator_id", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("support_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_support_grants_operator")
        batch_op.drop_index(batch_op.f("ix_support_grants_lab_id"))
    op.drop_table("support_grants")

    with op.batch_alter_table("access_overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_access_overrides_actor_patient")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("patient_id")
