"""login rate limit in the database: shared by every server process

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 12:00:00

The per-origin limit of the password-taking routes was one process's memory: with several server
workers each allowed the whole limit. Its hits now live here (security/rate_limit.py), the origin
as a keyed hash; a platform table (no lab), pruned to one window of traffic.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_rate_hits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("origin_mac", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_rate_hits")),
    )
    op.create_index("ix_login_rate_hits_origin_at", "login_rate_hits", ["origin_mac", "at"], unique=False)
    op.create_index("ix_login_rate_hits_at", "login_rate_hits", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_rate_hits_at", table_name="login_rate_hits")
    op.drop_index("ix_login_rate_hits_origin_at", table_name="login_rate_hits")
    op.drop_table("login_rate_hits")
