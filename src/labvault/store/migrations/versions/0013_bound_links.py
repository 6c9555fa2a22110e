"""row links bound to their rows: ``links_mac`` on every workflow table

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 06:00:00

The clear ids that link workflow rows (an order's patient and prescriber, an item's order, tube and
current result, a result's item and predecessor, a tube's order, a report's order and results, a
critical call's result, an override's actor and patient) are sealed with the row's id under a
key derived from the lab's index key (crypto/row_links.py, store/bound_links.py). This migration
only adds the nullable seal column: it runs without any key, so it cannot compute a seal.

Existing rows therefore start unsealed, and a lab's data keys say whether that may still be so:
- labs created from now on have their first data key wrapped as "links bound": a row of theirs
  without a seal is an integrity error from the first row;
- a lab that existed before stays lenient (a NULL seal passes; a present one is checked) until the
  re-encryptor (``labvault keys rotate``, which runs it) has sealed every remaining row and then
  re-wrapped the lab's data keys as "links bound" (keys/reencrypt.py). From then on a NULL seal
  fails there too. Rows written or re-linked by the new code are sealed at once in either case.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("orders", "order_items", "specimens", "results", "critical_calls", "reports", "access_overrides")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("links_mac", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("links_mac")
