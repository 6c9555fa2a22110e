"""Control lots and QC results, per instrument (an interface account), test and lot.

QC values are measurements of control material, not of a patient: lab data, scoped to the lab
(the session filter and PostgreSQL row-level security, like every :class:`TenantScoped` table),
kept clear so that the rules and Levey-Jennings charts read them without keys. Values, means and
SDs are decimal text, as sent: the rules compute exactly in ``Decimal`` (qc/westgard.py). The one
free text a person writes here, a biologist's decision comment, is sealed with the lab's key (it
may name what was re-run).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted, utcnow

# A decision of a biologist on a rejected QC result.
ACCEPT = "accept"  # the run is good after all (a false rejection): it counts as accepted QC
REJECT = "reject"  # the run was bad: corrective action taken (in the comment)
DECISIONS = (ACCEPT, REJECT)


class QcLot(TenantScoped, Base):
    """A control lot as run on one instrument for one test: its id as the instrument sends it
    (the control's specimen id), its level, and its target mean and SD for that test there."""

    __tablename__ = "qc_lots"
    __table_args__ = (
        Index("ix_qc_lots_instrument_test_lot", "lab_id", "instrument_id", "test_code", "lot", unique=True),
        Index("ix_qc_lots_instrument_lot", "lab_id", "instrument_id", "lot"),
    )

    instrument_id: Mapped[uuid.UUID] = mapped_column(Uuid())  # the interface account (users.id)
    test_code: Mapped[str] = mapped_column(String(32))
    lot: Mapped[str] = mapped_column(String(64))  # upper case, as matched
    level: Mapped[int | None] = mapped_column(Integer, default=None)
    mean: Mapped[str] = mapped_column(String(40))
    sd: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QcResult(TenantScoped, Base):
    """One QC measurement of a lot, the rules it broke when it arrived, and, for a rejection, the
    biologist's decision. ``number`` orders the lot's series (1, 2, ...)."""

    __tablename__ = "qc_results"
    __table_args__ = (
        Index("ix_qc_results_lot_number", "lab_id", "lot_id", "number", unique=True),
        Index("ix_qc_results_holds", "lab_id", "status", "decision"),
    )

    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("qc_lots.id"))
    instrument_id: Mapped[uuid.UUID] = mapped_column(Uuid())  # the lot's, here for the holds' query
    test_code: Mapped[str] = mapped_column(String(32))  # the lot's, likewise
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    value: Mapped[str] = mapped_column(String(40))
    z: Mapped[str] = mapped_column(String(40))  # (value - mean) / sd, the lot's targets then
    rules: Mapped[str] = mapped_column(String(64), default="")  # "1-2s,2-2s"
    status: Mapped[str] = mapped_column(String(16))  # in_control, warning, rejected
    source: Mapped[str] = mapped_column(String(16))  # astm, hl7v2, manual
    control_id: Mapped[str | None] = mapped_column(String(199), default=None)  # the message's
    entered_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decision_comment_enc: Mapped[bytes | None] = encrypted()
