"""audit subjects and alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): a table rebuild on SQLite would drop the append-only triggers.
    op.add_column("audit_events", sa.Column("patient_id", sa.Uuid(), nullable=True))
    op.create_index("ix_audit_events_patient", "audit_events", ["patient_id", "seq"], unique=False)
    op.create_index("ix_audit_events_actor_at", "audit_events", ["actor_id", "at"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_label", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_alerts_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_lab_at", "alerts", ["lab_id", "at"], unique=False)
    op.create_index(op.f("ix_alerts_lab_id"), "alerts", ["lab_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_lab_id"), table_name="alerts")
    op.drop_index("ix_alerts_lab_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_audit_events_actor_at", table_name="audit_events")
    op.drop_index("ix_audit_events_patient", table_name="audit_events")
    op.drop_column("audit_events", "patient_id")
