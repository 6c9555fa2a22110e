"""results: plausibility limits — no schema change, on purpose

Each numeric test's plausible limits live in the catalogue document (``plausible: [low, high]``),
which ``lab_catalogs.document`` already stores as JSON: a lab changes them by importing a catalogue
revision. A stored catalogue written before the field existed still loads, and its numeric tests get
``DEFAULT_PLAUSIBLE`` (no negative value, nothing beyond 10^9). Results already stored are left as
they are: the history reads them leniently and the trend chart clamps what it draws. This revision
keeps its place in the chain so that the numbering stays the one announced.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
