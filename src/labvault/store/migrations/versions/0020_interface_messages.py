"""interface messages: every message a channel received (HL7 v2 first), sealed, with its outcome

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 21:30:00

An interface account (an analyzer's, a middleware's connection) sends messages; each is kept
sealed with the acknowledgement sent. An accepted message's control id is unique per sender (a
repeated message is acknowledged again without a second effect); refused ones are the lab's dead
letters (interop/models.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interface_messages",
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("control_id", sa.String(length=199), nullable=False),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("error_location", sa.String(length=64), nullable=True),
        sa.Column("error_reason", sa.String(length=300), nullable=True),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("ack", sa.LargeBinary(), nullable=False),
        sa.Column("message_enc", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_interface_messages_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interface_messages")),
    )
    with op.batch_alter_table("interface_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interface_messages_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_interface_messages_lab_state_at", ["lab_id", "state", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_interface_messages_accepted_control",
            ["lab_id", "sender_id", "control_id"],
            unique=True,
            sqlite_where=sa.text("state = 'accepted'"),
            postgresql_where=sa.text("state = 'accepted'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("interface_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_interface_messages_accepted_control")
        batch_op.drop_index("ix_interface_messages_lab_state_at")
        batch_op.drop_index(batch_op.f("ix_interface_messages_lab_id"))
    op.drop_table("interface_messages")
