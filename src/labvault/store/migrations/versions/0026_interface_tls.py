"""interface TLS: client certificates pinned on interface accounts, TLS to receivers

Revision ID: 0026
Revises: 0022
Create Date: 2026-12-07 23:30:00

A TLS listener knows an interface account by the SHA-256 of its client certificate
(users.client_cert_sha256, unique); a receiver reached over TLS keeps the CA that signs its
certificate, the name it must carry and the paths of labvault's own certificate and key
(outbound_receivers.tls_*). Columns added in place (no table rebuild: users carries triggers).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("client_cert_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_users_client_cert_sha256", "users", ["client_cert_sha256"], unique=True)
    op.add_column("outbound_receivers", sa.Column("tls_ca_pem", sa.Text(), nullable=True))
    op.add_column("outbound_receivers", sa.Column("tls_server_name", sa.String(length=255), nullable=True))
    op.add_column("outbound_receivers", sa.Column("tls_cert_path", sa.String(length=1024), nullable=True))
    op.add_column("outbound_receivers", sa.Column("tls_key_path", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_receivers", schema=None) as batch_op:
        batch_op.drop_column("tls_key_path")
        batch_op.drop_column("tls_cert_path")
        batch_op.drop_column("tls_server_name")
        batch_op.drop_column("tls_ca_pem")
    op.drop_index("ix_users_client_cert_sha256", table_name="users")
    op.drop_column("users", "client_cert_sha256")
