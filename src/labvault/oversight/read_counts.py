"""What read budgets count, and the per-user count itself (oversight/read_budget.py and
oversight/read_windows.py share it).

A user's count is the distinct patients their counted events of a window name: every service is
covered, since every event passes the audit log's one append. It is read from the user's read
marks (oversight/read_marks.py), which every batch moves forward in its own transaction, not from
the window's events; it stops at the threshold that matters + 1, so a user far past it costs no
more. :func:`distinct_query` keeps the count from the log itself, for benchmarks and tests that
check the marks against it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from labvault.oversight.read_marks import marked_since
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
        "interface.queue",  # a release's results queued for a receiver: part of the release
        "interface.deliver",  # the outbox handing them over: the system's act, not a person's read
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


def opened_patients(records: Sequence[AuditRecord]) -> dict[uuid.UUID, bool]:
    """The batch's counted patients, each with whether an event opened its record (not a list's)."""
    opened: dict[uuid.UUID, bool] = {}
    for record in records:
        if record.patient_id is None or record.action in NOT_COUNTED:
            continue
        opened[record.patient_id] = opened.get(record.patient_id, False) or record.action not in LISTS
    return opened


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
    """Distinct patients in the user's counted events since ``since`` (``excluded`` NOT_RATED:
    those opened one by one), from their read marks (oversight/read_marks.py: the same number,
    without reading the window's events); stops counting at ``stop_after``."""
    if excluded not in (NOT_COUNTED, NOT_RATED):
        raise ValueError("the read marks count the budgets' events and the rate's, nothing else")
    assert ctx.actor_id is not None
    return marked_since(session, ctx.actor_id, since, stop_after, opened=excluded == NOT_RATED)
