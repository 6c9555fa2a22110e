"""audit merkle frontier

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 14:00:00

Each chain head keeps the Merkle frontier of its chain (the roots of the perfect subtrees over the
entries so far, 32 bytes each, largest first), so appends keep the RFC 6962 root current in
O(log n) and checkpoints are signed without reading the log. Existing chains are backfilled from
their entries. Only ``audit_heads`` changes: rebuilding ``audit_events`` on SQLite would drop its
append-only triggers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _frontier(entry_hashes: Sequence[bytes]) -> bytes:
    """The frontier over the leaves SHA-256(0x00 || entry_hash); frozen here so that this revision
    never depends on the application code of a later day (same result as security/merkle.py)."""
    nodes: list[bytes] = []
    for size, entry in enumerate(entry_hashes, start=1):
        nodes.append(hashlib.sha256(b"\x00" + entry).digest())
        while size % 2 == 0:
            right = nodes.pop()
            nodes[-1] = hashlib.sha256(b"\x01" + nodes[-1] + right).digest()
            size //= 2
    return b"".join(nodes)


def upgrade() -> None:
    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merkle_frontier", sa.LargeBinary(), nullable=True))

    conn = op.get_bind()
    heads = sa.table("audit_heads", sa.column("chain"), sa.column("merkle_frontier", sa.LargeBinary()))
    events = sa.table(
        "audit_events", sa.column("chain"), sa.column("chain_seq"), sa.column("entry_hash", sa.LargeBinary())
    )
    for chain in conn.execute(sa.select(heads.c.chain)).scalars().all():
        hashes = conn.execute(
            sa.select(events.c.entry_hash).where(events.c.chain == chain).order_by(events.c.chain_seq)
        ).scalars()
        conn.execute(
            sa.update(heads).where(heads.c.chain == chain).values(merkle_frontier=_frontier(list(hashes)))
        )

    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.alter_column("merkle_frontier", existing_type=sa.LargeBinary(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.drop_column("merkle_frontier")
