"""read budgets: read marks, one row per reader and patient, counted instead of the window's events

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:00:00

The read budgets counted distinct patients from the audit log: every event of the window, on every
read. ``read_marks`` holds, per reader (an account, or the lab itself for the lab-wide budget) and
patient, the time of the last counted event and of the last one that opened the record
(oversight/read_mark_models.py). The marks of the last day (the longest window) are rebuilt from
the log, so the budgets count across the upgrade as before.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As oversight/read_counts.py at this revision (a migration never imports the application).
NOT_COUNTED = (
    "patient.create",
    "order.create",
    "specimen.collect",
    "specimen.receive",
    "specimen.reject",
    "specimen.resolve",
    "result.enter",
    "result.correct",
    "result.withdraw",
    "result.rehearse",
    "result.validate_technical",
    "result.validate_biological",
    "result.critical_call",
    "report.release",
    "alert.raise",
    "alert.acknowledge",
)
LISTS = ("worklist.read",)
LONGEST_WINDOW = dt.timedelta(days=1, minutes=10)


def upgrade() -> None:
    op.create_table(
        "read_marks",
        sa.Column("reader_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_read_marks_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_marks")),
    )
    with op.batch_alter_table("read_marks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_read_marks_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_read_marks_reader_patient", ["lab_id", "reader_id", "patient_id"], unique=True
        )
        batch_op.create_index("ix_read_marks_reader_at", ["lab_id", "reader_id", "last_at"], unique=False)
        batch_op.create_index(
            "ix_read_marks_reader_opened", ["lab_id", "reader_id", "last_opened_at"], unique=False
        )
    _rebuild_recent_marks()


def _rebuild_recent_marks() -> None:
    events = sa.table(
        "audit_events",
        sa.column("lab_id", sa.Uuid()),
        sa.column("actor_id", sa.Uuid()),
        sa.column("patient_id", sa.Uuid()),
        sa.column("action", sa.String()),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    marks = sa.table(
        "read_marks",
        sa.column("id", sa.Uuid()),
        sa.column("lab_id", sa.Uuid()),
        sa.column("reader_id", sa.Uuid()),
        sa.column("patient_id", sa.Uuid()),
        sa.column("last_at", sa.DateTime(timezone=True)),
        sa.column("last_opened_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    since = dt.datetime.now(dt.UTC) - LONGEST_WINDOW
    counted = sa.select(
        events.c.lab_id, events.c.actor_id, events.c.patient_id, events.c.action, events.c.at
    ).where(
        events.c.at >= since,
        events.c.lab_id.is_not(None),
        events.c.patient_id.is_not(None),
        events.c.action.not_in(NOT_COUNTED),
    )
    latest: dict[tuple[Any, Any, Any], list[Any]] = {}
    for row in bind.execute(counted):
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
        readers = [row.lab_id] if row.actor_id is None else [row.actor_id, row.lab_id]
        for reader in readers:
            mark = latest.setdefault((row.lab_id, reader, row.patient_id), [at, None])
            mark[0] = max(mark[0], at)
            if row.action not in LISTS:
                mark[1] = at if mark[1] is None else max(mark[1], at)
    rows = [
        {
            "id": uuid.uuid4(),
            "lab_id": lab_id,
            "reader_id": reader,
            "patient_id": patient_id,
            "last_at": last_at,
            "last_opened_at": opened_at,
        }
        for (lab_id, reader, patient_id), (last_at, opened_at) in latest.items()
    ]
    if rows:
        bind.execute(sa.insert(marks), rows)


def downgrade() -> None:
    with op.batch_alter_table("read_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_read_marks_reader_opened")
        batch_op.drop_index("ix_read_marks_reader_at")
        batch_op.drop_index("ix_read_marks_reader_patient")
        batch_op.drop_index(batch_op.f("ix_read_marks_lab_id"))
    op.drop_table("read_marks")
