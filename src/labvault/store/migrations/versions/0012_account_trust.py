"""accounts: passwords set by someone else are temporary; delayed platform actions on lab accounts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:00:00

``users.password_temporary``: a password chosen by an administrator works once, for its owner to
replace it. Accounts that exist already and whose password was never changed since the account
was created are marked temporary: their creator may still know it (their owners set their own at
the next sign-in attempt with ``POST /auth/password/initial``, with their current code if they
enrolled a factor), and their open tokens are revoked.

``pending_account_actions``: an operator's reset of a lab admin's second factor waits, alerted to
the lab, which may cancel it (identity/account_actions.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (a constant default): a batch rebuild of ``users`` would drop the table
    # under the foreign keys of a populated database on SQLite.
    op.add_column(
        "users", sa.Column("password_temporary", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("password_changed_at", sa.DateTime(timezone=True)),
        sa.column("password_temporary", sa.Boolean()),
    )
    tokens = sa.table(
        "api_tokens",
        sa.column("user_id", sa.Uuid()),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    never_changed = [
        row.id
        for row in bind.execute(sa.select(users.c.id, users.c.created_at, users.c.password_changed_at))
        if abs((row.password_changed_at - row.created_at).total_seconds()) < 1
    ]
    for user_id in never_changed:
        bind.execute(sa.update(users).where(users.c.id == user_id).values(password_temporary=True))
        # A session opened with the given password ends: its owner signs in again with their own.
        bind.execute(
            sa.update(tokens)
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    op.create_table(
        "pending_account_actions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_pending_account_actions_lab_id_labs")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pending_account_actions_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_pending_account_actions_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_account_actions")),
    )
    with op.batch_alter_table("pending_account_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_account_actions_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_pending_account_actions_target", ["lab_id", "user_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_account_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_account_actions_target")
        batch_op.drop_index(batch_op.f("ix_pending_account_actions_lab_id"))
    op.drop_table("pending_account_actions")
    op.drop_column("users", "password_temporary")  # SQLite >= 3.35 drops a plain column in place
