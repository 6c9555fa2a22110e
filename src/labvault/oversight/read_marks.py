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

from sqlalchemy import Table, bindparam, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labvault.oversight.read_mark_models import ReadMark
from labvault.store.tenancy import LAB_KEY, TenantScopeError

_MARKS: Table = ReadMark.__table__  # type: ignore[assignment]


def _upsert(insert: Any) -> Any:
    """The marks' upsert for one dialect; never backwards: two processes' clocks, or two
    transactions, may commit out of order."""
    new = insert.excluded
    return insert.on_conflict_do_update(
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


# Built once (SQLAlchemy caches their compiled form) and run on the session's connection: on every
# batch of every read, the ORM's per-statement work cost more than the statements themselves. Each
# names its lab explicitly (the ORM's tenant filter does not see them); on PostgreSQL row-level
# security holds them to the transaction's lab like any statement.
_UPSERTS = {"postgresql": _upsert(pg_insert(_MARKS)), "sqlite": _upsert(sqlite_insert(_MARKS))}


def _count(column: Any) -> Any:
    """Marks of a reader at or after a time, up to a limit: the selected column is the indexed one,
    so the count reads the index alone (selecting ``id`` cost a row lookup per mark: 2.4x)."""
    marks = (
        select(column)
        .where(
            _MARKS.c.lab_id == bindparam("marks_lab"),
            _MARKS.c.reader_id == bindparam("marks_reader"),
            column >= bindparam("marks_since"),
        )
        .limit(bindparam("marks_limit"))
    )
    return select(func.count()).select_from(marks.subquery())


_COUNTS = {False: _count(_MARKS.c.last_at), True: _count(_MARKS.c.last_opened_at)}
NO_LIMIT = 2**62


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
    connection = session.connection()
    connection.execute(_UPSERTS[connection.dialect.name], rows)


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
    lab_id = session.info.get(LAB_KEY)
    if lab_id is None:
        raise TenantScopeError("read marks are counted in a laboratory's transaction")
    parameters = {
        "marks_lab": lab_id,
        "marks_reader": reader_id,
        "marks_since": since,
        "marks_limit": NO_LIMIT if stop_after is None else stop_after,
    }
    return int(session.connection().execute(_COUNTS[opened], parameters).scalar() or 0)
