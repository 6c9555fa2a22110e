"""Read marks: for each reader and each patient of a lab, when the reader last touched the patient.

The read budgets count distinct patients over sliding windows (10 minutes, an hour, a day, the
rate's minute). Counted from the audit log, each count read every event of the window: at a
thousand reads a second, a 10-minute window is 600,000 events per read. A mark is one row per
(reader, patient), moved forward by every counted event (oversight/read_marks.py) in the same
transaction as the event, so "distinct patients since T" is the number of marks at or after T:
an index range over at most the threshold + 1 rows, whatever the read rate.

The reader is an account, or the lab itself (its id) for the lab-wide budget, which counts every
account's reads and the console's. Ids and times only: no identity, nothing sealed.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index
from sqlalchemy.orm import Mapped

from labvault.store.base import Base, TenantScoped


class ReadMark(TenantScoped, Base):
    """The last counted event of ``reader_id`` naming ``patient_id``; ``last_opened_at``: the last
    one that opened the record itself (not a worklist's line), for the rate signal."""

    __tablename__ = "read_marks"
    __table_args__ = (
        Index("ix_read_marks_reader_patient", "lab_id", "reader_id", "patient_id", unique=True),
        Index("ix_read_marks_reader_at", "lab_id", "reader_id", "last_at"),
        Index("ix_read_marks_reader_opened", "lab_id", "reader_id", "last_opened_at"),
    )

    reader_id: Mapped[uuid.UUID]
    patient_id: Mapped[uuid.UUID]
    last_at: Mapped[dt.datetime]
    last_opened_at: Mapped[dt.datetime | None]
