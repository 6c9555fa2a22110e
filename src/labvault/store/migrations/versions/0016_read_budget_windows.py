"""read budgets: several windows and a rate signal, no schema change

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 06:00:00

The per-user read budget gained an hour and a day window and a rate signal (issue 10, finding 3;
oversight/read_windows.py). All of them count the user's events by ``ix_audit_events_actor_at``
(``(actor_id, at)``), as the short window does, and the longer windows are counted incrementally
from remembered counts (in process memory, bounded by the short window's exact count), so no
table or index is added. The revision stays so the chain 0011 -> 0016 is unbroken.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
