"""outbound results: receivers and a durable outbox of ORU^R01 messages

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 21:30:00

Released reports go to the lab's receivers (a hospital's, a practice's software) as HL7 v2 ORU^R01
messages, written sealed in the release's own transaction and sent until acknowledged
(interop/outbound_models.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_receivers",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_outbound_receivers_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_receivers")),
    )
    with op.batch_alter_table("outbound_receivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_receivers_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index("ix_outbound_receivers_account", ["lab_id", "account_id"], unique=True)
    op.create_table(
        "outbox_messages",
        sa.Column("receiver_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("control_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ack_code", sa.String(length=2), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("message_enc", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_outbox_messages_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_messages_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index("ix_outbox_messages_control", ["lab_id", "control_id"], unique=True)
        batch_op.create_index("ix_outbox_messages_due", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("outbox_messages")
    op.drop_table("outbound_receivers")
