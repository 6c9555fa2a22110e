"""Moving the read marks forward, and counting them (oversight/read_mark_models.py says why).

Every batch of audit events of a lab moves the marks of its counted patients, in the batch's own
transaction, before the budgets count: a count includes the batch, as it did when it was read
from the log. One upsert per batch and reader (the account, and the lab); the marks take the
batch's time, the events' own ``at``, so a count of marks since T is exactly the count of distinct
patients of the reader's counted events since T.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Table, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labvault.oversight.read_mark_models import ReadMark

_MARKS: Table = ReadMark.__table__  # type: ignore[assignment]


def mark(
    session: Session,
    lab_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    opened: dict[uuid.UUID, bool],
    at: dt.datetime,
) -> None:
    """Move the marks of a batch's counted patients (each with whether the batch opened its record,
    read_counts.opened_patients) to ``at``: the account's (none for the console) and the lab's."""
    if not opened:
        return
    readers = [lab_id] if actor_id is None else [actor_id, lab_id]
    rows = [
        {
            "id": uuid.uuid4(),
            "lab_id": lab_id,
            "reader_id": reader,
            "patient_id": patient_id,
            "last_at": at,
            "last_opened_at": at if was_opened else None,
        }
        for reader in readers
        for patient_id, was_opened in opened.items()
    ]
    dialect = session.get_bind().dialect.name
    insert: Any = pg_insert(_MARKS) if dialect == "postgresql" else sqlite_insert(_MARKS)
    new = insert.excluded
    # Never backwards: two processes' clocks, or two transactions, may commit out of order.
    statement = insert.on_conflict_do_update(
        index_elements=[_MARKS.c.lab_id, _MARKS.c.reader_id, _MARKS.c.patient_id],
        set_={
            "last_at": case((new.last_at > _MARKS.c.last_at, new.last_at), else_=_MARKS.c.last_at),
            "last_opened_at": case(
                (_MARKS.c.last_opened_at.is_(None), new.last_opened_at),
                (new.last_opened_at > _MARKS.c.last_opened_at, new.last_opened_at),
                else_=_MARKS.c.last_opened_at,
            ),
        },
    )
    session.execute(statement, rows)


def marked_since(
    session: Session,
    reader_id: uuid.UUID,
    since: dt.datetime,
    stop_after: int | None,
    *,
    opened: bool = False,
) -> int:
    """Distinct patients the reader touched (``opened``: opened one by one) since ``since``, in
    the session's lab; stops at ``stop_after`` when given (all a threshold needs to know)."""
    column = ReadMark.last_opened_at if opened else ReadMark.last_at
    marks = select(ReadMark.id).where(ReadMark.reader_id == reader_id, column >= since)
    if stop_after is not None:
        marks = marks.limit(stop_after)
    return int(session.scalar(select(func.count()).select_from(marks.subquery())) or 0)
