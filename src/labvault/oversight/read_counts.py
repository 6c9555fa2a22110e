"""What read budgets count, and the per-user count itself (oversight/read_budget.py and
oversight/read_windows.py share it).

A user's count is the distinct patients their counted events of a window name, read from the audit
log by ``(actor_id, at)``: every service is covered without a counter anywhere. It stops at the
threshold that matters + 1, so a user far past it costs no more.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.models import AuditEvent

# Work on samples and records the lab holds, done in bulk by design (a morning's tubes, an
# analyser's results, a validation run) and disclosing nothing the work itself does not: not
# counted. Everything else that names a patient is (reads, searches and their hits, lists,
# worklists, histories, reports, labels, exports, and any action added later).
NOT_COUNTED = frozenset(
    {
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
    }
)
# Lists of the bench's open work: one request shows hundreds of patients by design. Budgets count
# them; the rate signal (patients opened one by one) does not.
LISTS = frozenset({"worklist.read"})
NOT_RATED = NOT_COUNTED | LISTS
_EVENTS = AuditEvent.__table__


def counted_patients(
    records: Sequence[AuditRecord], excluded: Collection[str] = NOT_COUNTED
) -> set[uuid.UUID]:
    return {r.patient_id for r in records if r.patient_id is not None and r.action not in excluded}


def distinct_query(
    ctx: AccessContext, since: dt.datetime, stop_after: int, excluded: Collection[str] = NOT_COUNTED
) -> Select[Any]:
    """The user's counted patients since ``since`` (index ``(actor_id, at)``)."""
    return (
        select(_EVENTS.c.patient_id)
        .where(
            _EVENTS.c.actor_id == ctx.actor_id,
            _EVENTS.c.at >= since,
            _EVENTS.c.lab_id == ctx.lab_id,
            _EVENTS.c.patient_id.is_not(None),
            _EVENTS.c.action.not_in(excluded),
        )
        .distinct()
        .limit(stop_after)
    )


def distinct_patients(
    session: Session,
    ctx: AccessContext,
    since: dt.datetime,
    stop_after: int,
    excluded: Collection[str] = NOT_COUNTED,
) -> int:
    """Distinct patients in the user's counted events since ``since``; stops counting at
    ``stop_after`` (all a threshold needs to know), so a user far past it costs no more."""
    distinct = distinct_query(ctx, since, stop_after, excluded)
    return int(session.scalar(select(func.count()).select_from(distinct.subquery())) or 0)
