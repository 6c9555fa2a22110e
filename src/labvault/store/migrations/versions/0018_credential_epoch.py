"""tokens: a credential epoch moved by triggers, so resolved tokens may be kept in memory

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:30:00

``credential_epoch`` holds one counter that triggers move on every change a token's validity
depends on (identity/credential_epoch.py): a server keeps resolved tokens in memory, reads the
counter on each request (one row, no write lock) and resolves again once it moved.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As identity/credential_epoch.py at this revision (a migration never imports the application).
WATCHED = {
    "api_tokens": ("user_id", "token_hash", "expires_at", "revoked_at", "kind", "reauthenticated_at"),
    "users": (
        "lab_id",
        "physician_id",
        "username",
        "password_hash",
        "password_changed_at",
        "role",
        "active",
        "mfa_enabled_at",
    ),
    "labs": ("shredded_at",),
}
BUMP = "UPDATE credential_epoch SET epoch = epoch + 1 WHERE id = 1"
FUNCTION = "labvault_bump_credential_epoch"


def upgrade() -> None:
    op.create_table(
        "credential_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_epoch")),
    )
    op.execute("INSERT INTO credential_epoch (id, epoch) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table, columns in WATCHED.items():
            op.execute(
                f"CREATE TRIGGER {table}_credential_epoch AFTER UPDATE OF {', '.join(columns)} OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
            )
        return
    for table, columns in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_credential_epoch_update AFTER UPDATE OF {', '.join(columns)} "
            f"ON {table} BEGIN {BUMP}; END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_credential_epoch_delete AFTER DELETE ON {table} BEGIN {BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_credential_epoch ON {table}")
        op.execute(f"DROP FUNCTION {FUNCTION}()")
    else:
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_credential_epoch_update")
            op.execute(f"DROP TRIGGER {table}_credential_epoch_delete")
    op.drop_table("credential_epoch")
