"""A QC result stored in the caller's transaction: its place in its lot's series, the Westgard
rules it breaks (qc/westgard.py) and, for a rejection, the alert that tells the lab. Shared by the
channels (interop/intake.py, in the message's own transaction) and by manual entry (qc/service.py).

The rules look back over the lot's series since its last decided rejection: a biologist's decision
(with the corrective action it records) starts the rules afresh, so a 10x that was dealt with does
not fire again at every next point. Across levels: a point of another lot of the same instrument
and test in the same message (one run of two control levels) is paired with the new one for 2-2s
and R-4s (qc/westgard.py ``evaluate_across``); typed values are not paired.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labvault.qc.models import QcLot, QcResult
from labvault.qc.westgard import ORDER, Status, Verdict, decimal_of, evaluate, evaluate_across, z_score
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord

QC_REJECTION = "qc_rejection"  # the alert's kind
LOOK_BACK = 9  # the longest rule (10x) needs the nine points before the new one


@dataclass(frozen=True)
class Stored:
    """A QC result as stored: its row id, the lot, and the verdict of the rules."""

    id: uuid.UUID
    lot_id: uuid.UUID
    number: int
    z: Decimal
    verdict: Verdict


def lots_of(session: Session, instrument_id: uuid.UUID) -> dict[tuple[str, str], QcLot]:
    """The active lots of an instrument, by (test code, lot id), in the session's lab."""
    rows = session.scalars(select(QcLot).where(QcLot.instrument_id == instrument_id, QcLot.active.is_(True)))
    return {(lot.test_code, lot.lot): lot for lot in rows}


def history(session: Session, lot_id: uuid.UUID) -> list[Decimal]:
    """The z-scores the rules look back on, oldest first: the lot's last points, up to its last
    decided rejection (excluded)."""
    rows = session.execute(
        select(QcResult.z, QcResult.decision)
        .where(QcResult.lot_id == lot_id)
        .order_by(QcResult.number.desc())
        .limit(LOOK_BACK)
    ).all()
    back: list[Decimal] = []
    for z, decision in rows:
        if decision is not None:
            break
        back.append(Decimal(z))
    return back[::-1]


def _across_levels(
    session: Session, lot: QcLot, z: Decimal, verdict: Verdict, source: str, control_id: str
) -> Verdict:
    """The verdict with 2-2s and R-4s across the other levels of the same run (the same message)."""
    others = session.scalars(
        select(QcResult.z).where(
            QcResult.instrument_id == lot.instrument_id,
            QcResult.test_code == lot.test_code,
            QcResult.source == source,
            QcResult.control_id == control_id,
            QcResult.lot_id != lot.id,
        )
    )
    found = set(verdict.rules)
    for other in others:
        found |= set(evaluate_across(Decimal(other), z))
    return Verdict(tuple(rule for rule in ORDER if rule in found))


def record(
    session: Session,
    ctx: AccessContext,
    lot: QcLot,
    value: str,
    *,
    at: dt.datetime,
    source: str,
    control_id: str | None = None,
) -> Stored:
    """Store one QC value of ``lot`` (raises ``NotAQcValue`` for a value that is not a number),
    evaluate the rules, audit it, and raise a ``qc_rejection`` alert for a rejection."""
    measured = decimal_of(value)
    z = z_score(measured, Decimal(lot.mean), Decimal(lot.sd))
    # The lab's writers in turn from here (PostgreSQL; SQLite's BEGIN IMMEDIATE already does): two
    # values of one lot at once would read the same series and take the same number.
    audit.lock_chain(session, ctx)
    verdict = evaluate(history(session, lot.id), z)
    if control_id is not None:
        verdict = _across_levels(session, lot, z, verdict, source, control_id)
    last = session.scalar(select(func.max(QcResult.number)).where(QcResult.lot_id == lot.id))
    row = QcResult(
        id=uuid.uuid4(),
        lab_id=lot.lab_id,
        lot_id=lot.id,
        instrument_id=lot.instrument_id,
        test_code=lot.test_code,
        number=(last or 0) + 1,
        at=at,
        value=str(measured),
        z=str(z),
        rules=",".join(rule.value for rule in verdict.rules),
        status=verdict.status.value,
        source=source,
        control_id=control_id,
        entered_by=ctx.actor_id,
    )
    session.add(row)
    session.flush()
    detail = {
        "lot": str(lot.id),
        "instrument": str(lot.instrument_id),
        "test": lot.test_code,
        "number": row.number,
        "status": row.status,
        "rules": list(row.rules.split(",")) if row.rules else [],
        "source": source,
    }
    audit.append(session, ctx, AuditRecord("qc.record", "qc_result", str(row.id), detail))
    if verdict.status is Status.REJECTED:
        spec = AlertSpec(
            QC_REJECTION,
            Severity.MEDIUM,
            {k: detail[k] for k in ("lot", "instrument", "test", "rules")} | {"qc_result": str(row.id)},
        )
        raise_alert(session, ctx, spec, at=at)
    return Stored(row.id, lot.id, row.number, z, verdict)
