"""Which patient results a QC rejection holds from technical validation.

A rejected QC result of a lot (instrument, test), not yet decided by a biologist, holds that
instrument's patient results of that test entered after the lot's last accepted QC before it (an
in-control or warning point, or a rejection a biologist accepted), including those entered since.
Results of the test entered by another instrument, or typed by a person, are not held: they did
not go through that instrument. The check reads the clear QC rows only; workflow/validation.py
asks it for the results it is about to validate.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from labvault.qc.models import ACCEPT, QcLot, QcResult
from labvault.qc.westgard import Status

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True)
class Candidate(Generic[Key]):
    """A patient result about to be validated: who entered it (an instrument, or a person), its
    test, when."""

    key: Key
    entered_by: uuid.UUID | None
    test_code: str
    entered_at: dt.datetime


@dataclass(frozen=True)
class Hold:
    """The undecided QC rejection that holds a result."""

    qc_result_id: uuid.UUID
    lot: str
    rules: str


def pending_rejections(session: Session) -> list[QcResult]:
    """The lab's QC rejections awaiting a biologist's decision, oldest first."""
    return list(
        session.scalars(
            select(QcResult)
            .where(QcResult.status == Status.REJECTED.value, QcResult.decision.is_(None))
            .order_by(QcResult.at, QcResult.number)
        )
    )


def held(session: Session, candidates: Sequence[Candidate[Key]]) -> dict[Key, Hold]:
    """The candidates a pending rejection holds, each with the (first) rejection holding it."""
    instruments = {c.entered_by for c in candidates if c.entered_by is not None}
    if not instruments:
        return {}
    pending = [
        p
        for p in pending_rejections(session)
        if p.instrument_id in instruments and p.test_code in {c.test_code for c in candidates}
    ]
    if not pending:
        return {}
    lots = {
        lot.id: lot.lot
        for lot in session.scalars(select(QcLot).where(QcLot.id.in_({p.lot_id for p in pending})))
    }
    found: dict[Key, Hold] = {}
    for rejection in pending:
        since = _last_accepted_before(session, rejection)
        hold = Hold(rejection.id, lots.get(rejection.lot_id, ""), rejection.rules)
        for candidate in candidates:
            if candidate.key in found:
                continue
            if (candidate.entered_by, candidate.test_code) != (rejection.instrument_id, rejection.test_code):
                continue
            if since is None or candidate.entered_at > since:
                found[candidate.key] = hold
    return found


def _last_accepted_before(session: Session, rejection: QcResult) -> dt.datetime | None:
    """When the rejected lot last passed before this rejection (None: never)."""
    at: dt.datetime | None = session.scalar(
        select(func.max(QcResult.at)).where(
            QcResult.lot_id == rejection.lot_id,
            QcResult.number < rejection.number,
            or_(QcResult.status != Status.REJECTED.value, QcResult.decision == ACCEPT),
        )
    )
    if at is not None and at.tzinfo is None:  # max() bypasses the column type on SQLite
        at = at.replace(tzinfo=dt.UTC)
    return at
