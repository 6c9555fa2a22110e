"""inbound orders: pending identities, order senders and placer order numbers

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-07 23:30:00

Interfaces a lab admin marks as order senders send orders (HL7 v2 OML^O21, ORM^O01); a patient
they name that no one here matches is created as a pending identity reception confirms
(interop/order_models.py, workflow/pending_identities.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("identity_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "order_senders",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("marked_by", sa.Uuid(), nullable=True),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_order_senders_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_senders")),
    )
    with op.batch_alter_table("order_senders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_senders_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index("ix_order_senders_account", ["lab_id", "account_id"], unique=True)
    op.create_table(
        "placer_orders",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("placer_bidx", sa.LargeBinary(length=16), nullable=False),
        sa.Column("placer_enc", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_placer_orders_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placer_orders")),
    )
    with op.batch_alter_table("placer_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_placer_orders_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_placer_orders_sender_number", ["lab_id", "sender_id", "placer_bidx"], unique=True
        )


def downgrade() -> None:
    op.drop_table("placer_orders")
    op.drop_table("order_senders")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("identity_pending")
