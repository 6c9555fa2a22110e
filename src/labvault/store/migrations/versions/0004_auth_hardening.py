"""auth hardening: TOTP secrets and lockout on users, session kind and use times on tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:30:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("mfa_enabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="script", nullable=False))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reauthenticated_at", sa.DateTime(timezone=True), nullable=True))
    # Tokens issued before MFA was mandatory were got with a password alone: revoked, so everyone
    # signs in again with both factors.
    api_tokens = sa.table("api_tokens", sa.column("revoked_at", sa.DateTime(timezone=True)))
    op.execute(
        api_tokens.update()
        .where(api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=dt.datetime.now(dt.UTC))
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("reauthenticated_at")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("kind")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("mfa_enabled_at")
        batch_op.drop_column("totp_secret_sealed")
