"""instrument codes: an interface's own test codes mapped to the lab's catalogue

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 21:00:00

An analyzer sends its own test codes (``A1``, ``GLU2``); the lab maps each to a catalogue test
once per interface account (interop/instrument_codes.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instrument_codes",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("test_code", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_instrument_codes_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_codes")),
    )
    with op.batch_alter_table("instrument_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instrument_codes_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_instrument_codes_account_code", ["lab_id", "account_id", "code"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("instrument_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_instrument_codes_account_code")
        batch_op.drop_index(batch_op.f("ix_instrument_codes_lab_id"))
    op.drop_table("instrument_codes")
