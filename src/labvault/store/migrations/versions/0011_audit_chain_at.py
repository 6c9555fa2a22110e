"""audit events by chain and time: the lab-wide read budget's count

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00

The lab-wide read budget (oversight/read_budget.py) counts the distinct patients named by one lab's
counted events of the last minutes. No index served it: ``(actor_id, at)`` needs the actor,
``(chain, chain_seq)`` has no time, so both engines read the lab's whole history. A lab's events
are exactly its chain's, so the index is ``(chain, at)``: one on ``(lab_id, at)`` was tried and
both planners took it for the per-user count too (which filters on ``lab_id``, ``actor_id`` and
``at``), reading every account's events instead of one's. A plain CREATE INDEX: rebuilding
``audit_events`` on SQLite (batch mode) would drop its append-only triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_events_chain_at", "audit_events", ["chain", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_chain_at", table_name="audit_events")
