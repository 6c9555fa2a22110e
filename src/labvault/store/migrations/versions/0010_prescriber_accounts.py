"""prescriber accounts: users.physician_id (one active account per physician)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = (
    "(role = 'prescriber' AND physician_id IS NOT NULL) OR (role <> 'prescriber' AND physician_id IS NULL)"
)
ACTIVE_PHYSICIAN = "active AND physician_id IS NOT NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode: it would copy ``users`` to a new table and drop the old one, which
        # SQLite (foreign keys on) refuses while tokens and security keys point at its rows. A
        # column added with ALTER TABLE may carry its foreign key and CHECK (NULL default).
        op.execute(
            "ALTER TABLE users ADD COLUMN physician_id CHAR(32) "
            "CONSTRAINT fk_users_physician_id_physicians REFERENCES physicians (id) "
            f"CONSTRAINT ck_users_prescriber_physician CHECK ({CHECK})"
        )
    else:
        op.add_column("users", sa.Column("physician_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f("fk_users_physician_id_physicians"), "users", "physicians", ["physician_id"], ["id"]
        )
        op.create_check_constraint(op.f("ck_users_prescriber_physician"), "users", sa.text(CHECK))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_physician_id"), ["physician_id"], unique=False)
        batch_op.create_index(
            "uq_users_active_physician",
            ["physician_id"],
            unique=True,
            sqlite_where=sa.text(ACTIVE_PHYSICIAN),
            postgresql_where=sa.text(ACTIVE_PHYSICIAN),
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_active_physician")
        batch_op.drop_index(batch_op.f("ix_users_physician_id"))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops no column that a constraint uses: the table is rebuilt (batch mode), which
        # needs the rows that point at users gone or foreign keys off, as any rebuild of it does.
        with op.batch_alter_table("users", schema=None, recreate="always") as batch_op:
            batch_op.drop_constraint(batch_op.f("ck_users_prescriber_physician"), type_="check")
            batch_op.drop_column("physician_id")
    else:
        op.drop_constraint(op.f("ck_users_prescriber_physician"), "users", type_="check")
        op.drop_constraint(op.f("fk_users_physician_id_physicians"), "users", type_="foreignkey")
        op.drop_column("users", "physician_id")
