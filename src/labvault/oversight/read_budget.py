"""Read budgets: how many distinct patients one user, and one whole lab, touched in sliding windows.

Counted from the read marks (oversight/read_marks.py), which every batch of audit events moves
forward in its own transaction before the count, so every service is covered and a count costs an
index range over at most the threshold + 1 marks, not the window's events. A user
has three windows (the short one here, an hour and a day in oversight/read_windows.py, with the
rate signal). Past a window's soft threshold one alert per user per window; past a hard threshold
the request is refused with :class:`ReadBudgetExceeded` (HTTP 429). Its transaction rolls back
(nothing was read), so the alert saying it was refused, and the audit event of the refusal, are
written right after the rollback, in a transaction of their own (:func:`record_refusal`): one
place, whoever called the service (web, CLI, a listener).

The lab-wide budget (several accounts, each under its own budget, reading together) counts every
account of the lab, so its count costs more: it is not paid on every read. A committed exact count
remembers where the lab's audit chain ended; every event since names at most one patient, so the
count plus the events appended since bounds it from above, across processes (every event of the
lab, whichever process wrote it, is on that chain). The count is taken again only when that bound
could pass a threshold that matters: the hard one at once (never passed: a burst cannot slip past
it), the soft one at most every :data:`SOFT_RECHECK` per lab per process (an alert, not a block: it
may come that much later) and not again once the lab's soft alert of the window is raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from labvault.errors import LabvaultError
from labvault.oversight.read_counts import (  # re-exported: tests and benchmarks use them from here
    _EVENTS,
    NOT_COUNTED,
    counted_patients,
    distinct_patients,
    distinct_query,  # noqa: F401
)
from labvault.oversight.read_marks import marked_since
from labvault.oversight.read_windows import check_rate, check_windows, window_detail
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.alert_models import Alert
from labvault.security.alerts import AlertSpec, Severity, raise_alert, recent_alert
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.monitor import LabCount, Monitor, monitor_for, pending_counts
from labvault.store.database import Database

log = logging.getLogger(__name__)

SOFT = "read_budget"
BLOCKED = "read_budget_blocked"
MASS_EXPORT = "mass_export"
LAB_SOFT = "read_budget_lab"
LAB_BLOCKED = "read_budget_lab_blocked"
REFUSALS = (BLOCKED, LAB_BLOCKED)
REFUSED = "read_budget.refuse"  # the audit event of every refusal (its alert is once per window)
PENDING_REFUSAL = "labvault.pending_refusal"
# How late the lab's soft alert may come: while the bound says the lab may be past soft, a process
# counts again at most this often (a lab hovering just under soft would otherwise pay a count for
# nearly every read).
SOFT_RECHECK = dt.timedelta(seconds=5)
TOP_READERS = 5
SHORT = "minutes"  # the short window's name in alerts (the longer ones: "hour", "day")


class ReadBudgetExceeded(LabvaultError):
    """Too many distinct patients in the window for this role, or for the whole lab: refused (HTTP 429)."""

    def __init__(
        self,
        message: str,
        ctx: AccessContext,
        alerts: Sequence[AlertSpec],
        retry_after: int,
        refused: Sequence[AuditRecord] = (),
    ) -> None:
        super().__init__(message)
        self.ctx = ctx
        self.alerts = tuple(alerts)
        self.retry_after = retry_after
        self.refused = tuple(refused)  # what was asked (its events rolled back): for the audit


def check_budget(
    session: Session,
    ctx: AccessContext,
    records: Sequence[AuditRecord],
    monitor: Monitor,
    now: dt.datetime,
    chain_end: int,
) -> tuple[list[AlertSpec], AlertSpec | None]:
    """Alerts this batch raises (mass export, soft threshold) and, past the hard threshold, the
    alert of the refusal (the caller raises :class:`ReadBudgetExceeded`). ``chain_end``: the last
    sequence number of the context's chain once this batch is appended (the append returned it,
    and holds the chain head's lock: no other transaction of the lab moves it meanwhile)."""
    batch = counted_patients(records)
    if not batch or ctx.actor_id is None:
        return [], None
    budget = monitor.budget(ctx.role.value)
    since = now - monitor.window
    alerts: list[AlertSpec] = []
    if len(batch) > monitor.mass_export_patients and not recent_alert(
        session, ctx.actor_id, [MASS_EXPORT], since
    ):
        export = {
            "patients": len(batch),
            "threshold": monitor.mass_export_patients,
            "action": _action(records),
        }
        alerts.append(AlertSpec(MASS_EXPORT, Severity.MEDIUM, export))
    if not monitor.read_budgets:
        return alerts, None
    count = (
        len(batch) if len(batch) > budget.hard else distinct_patients(session, ctx, since, budget.hard + 1)
    )
    role = ctx.role.value
    if count > budget.hard:
        detail = window_detail(count, budget.hard, monitor.window, SHORT, role)
        return alerts, AlertSpec(BLOCKED, Severity.HIGH, detail, blocked=True)
    window_alerts, refusal = check_windows(session, ctx, monitor, now, count)
    if refusal is not None:
        return alerts, AlertSpec(BLOCKED, Severity.HIGH, refusal, blocked=True)
    rate = check_rate(session, ctx, records, monitor, now, count)
    if rate is not None:
        alerts.append(rate)
    if count > budget.soft and not recent_alert(session, ctx.actor_id, [SOFT, BLOCKED], since):
        detail = window_detail(count, budget.soft, monitor.window, SHORT, role)
        alerts.append(AlertSpec(SOFT, Severity.MEDIUM, detail))
    alerts += window_alerts
    lab_alerts, lab_blocked = check_lab_budget(session, ctx, batch, monitor, now, chain_end)
    return alerts + lab_alerts, lab_blocked


# --- the lab-wide budget -------------------------------------------------------------------------


def check_lab_budget(
    session: Session,
    ctx: AccessContext,
    batch: set[uuid.UUID],
    monitor: Monitor,
    now: dt.datetime,
    seq: int,
) -> tuple[list[AlertSpec], AlertSpec | None]:
    """The lab's soft alert, or past its hard threshold the refusal's alert; counts only when the
    bound of the last count (module docstring) says a threshold that matters may be passed."""
    budget, lab_id = monitor.lab_budget, ctx.lab_id
    if budget is None or lab_id is None or not batch:
        return [], None
    known = pending_counts(session).labs.get(lab_id) or monitor.lab_count(lab_id)
    bound = known.bound(seq, now) if known is not None else None
    if known is None or bound is None:
        hard_due = soft_due = True
    else:
        hard_due = budget.hard is not None and bound > budget.hard
        soft_due = not known.quiet(now) and bound > budget.soft and now - known.at >= SOFT_RECHECK
    if not (hard_due or soft_due):
        return [], None
    since = now - monitor.window
    count = lab_patients(session, lab_id, since, None if budget.hard is None else budget.hard + 1)
    if budget.hard is not None and count > budget.hard:
        return [], _lab_refusal(session, ctx, lab_id, (count, budget.hard), since, monitor)
    quiet = known is not None and known.quiet(now)
    quiet_until = known.quiet_until if known is not None and quiet else None
    alerts: list[AlertSpec] = []
    if count > budget.soft and not quiet:
        last = last_lab_alert(session, since)
        if last is None:
            detail = _lab_detail(count, budget.soft, monitor)
            alerts.append(
                AlertSpec(LAB_SOFT, Severity.HIGH, {**detail, **top_readers(session, lab_id, since)})
            )
            last = now
        quiet_until = last + monitor.window
    pending_counts(session).labs[lab_id] = LabCount(count, seq, now, quiet_until)
    return alerts, None


def _lab_refusal(
    session: Session,
    ctx: AccessContext,
    lab_id: uuid.UUID,
    count_and_hard: tuple[int, int],
    since: dt.datetime,
    monitor: Monitor,
) -> AlertSpec:
    detail = _lab_detail(*count_and_hard, monitor)
    if not recent_alert(session, ctx.actor_id, [LAB_BLOCKED], since):  # else not recorded: spare the query
        detail.update(top_readers(session, lab_id, since))
    return AlertSpec(LAB_BLOCKED, Severity.HIGH, detail, blocked=True)


def _lab_detail(count: int, threshold: int, monitor: Monitor) -> dict[str, Any]:
    minutes = int(monitor.window.total_seconds() // 60)
    return {"distinct_patients": count, "threshold": threshold, "window_minutes": minutes}


def counted_in_lab(lab_id: uuid.UUID, since: dt.datetime) -> list[Any]:
    """A lab's counted events since ``since``, by its chain: a lab's events are exactly its chain's
    (audit.chain_of; on PostgreSQL the append policy checks it). Not by ``lab_id``: an index on
    ``(lab_id, at)`` drew the per-user count (which filters on ``lab_id``) away from its own."""
    return [
        _EVENTS.c.chain == str(lab_id),
        _EVENTS.c.at >= since,
        _EVENTS.c.patient_id.is_not(None),
        _EVENTS.c.action.not_in(NOT_COUNTED),
    ]


def lab_patients(session: Session, lab_id: uuid.UUID, since: dt.datetime, stop_after: int | None) -> int:
    """Distinct patients in the lab's counted events since ``since``, every account's, the
    console's included, from the lab's read marks; stops at ``stop_after`` when given."""
    return marked_since(session, lab_id, since, stop_after)


def top_readers(session: Session, lab_id: uuid.UUID, since: dt.datetime) -> dict[str, Any]:
    """Who read the most distinct patients of the lab in the window: account ids and counts only
    (``None``: the console), and how many accounts read at all."""
    audit.flush_held(session)  # a group commit's events so far are counted too
    patients = func.count(_EVENTS.c.patient_id.distinct()).label("patients")
    rows = session.execute(
        select(_EVENTS.c.actor_id, patients)
        .where(*counted_in_lab(lab_id, since))
        .group_by(_EVENTS.c.actor_id)
        .order_by(patients.desc())
    ).all()
    top = [
        {"actor_id": None if row.actor_id is None else str(row.actor_id), "patients": int(row.patients)}
        for row in rows[:TOP_READERS]
    ]
    return {"accounts": len(rows), "top_readers": top}


def last_lab_alert(session: Session, since: dt.datetime) -> dt.datetime | None:
    """When the lab's latest lab-wide alert since ``since`` was raised, if any (the session is the
    lab's: its alerts only). Deduplication: one soft alert per lab per window."""
    query = select(func.max(Alert.at)).where(Alert.kind.in_([LAB_SOFT, LAB_BLOCKED]), Alert.at >= since)
    return session.scalar(query)


# --- refusals ------------------------------------------------------------------------------------


def refuse(
    session: Session,
    ctx: AccessContext,
    monitor: Monitor,
    alerts: Sequence[AlertSpec],
    records: Sequence[AuditRecord] = (),
) -> None:
    """Raise :class:`ReadBudgetExceeded`; its alerts and the audit event of the refusal are
    recorded once the transaction is rolled back. ``Retry-After``: the refusing window (new
    patients become readable again as older reads leave it)."""
    blocked = next(a for a in alerts if a.kind in REFUSALS)
    minutes = int(blocked.detail["window_minutes"])
    whose = "this laboratory" if blocked.kind == LAB_BLOCKED else f"role {ctx.role.value}"
    refusal = ReadBudgetExceeded(
        f"read budget exceeded: more than {blocked.detail['threshold']} distinct patients in "
        f"{_span(minutes)} for {whose}; the lab's security officer has been alerted",
        ctx,
        alerts,
        minutes * 60,
        records,
    )
    session.info.setdefault(PENDING_REFUSAL, []).append(refusal)
    raise refusal


def _span(minutes: int) -> str:
    if minutes % 60:
        return f"{minutes} minutes"
    return "1 hour" if minutes == 60 else f"{minutes // 60} hours"


def _action(records: Sequence[AuditRecord]) -> str:
    counted = [r.action for r in records if r.patient_id is not None and r.action not in NOT_COUNTED]
    return max(set(counted), key=counted.count) if counted else ""


@event.listens_for(Session, "after_transaction_end")
def _record_refusal(session: Session, transaction: SessionTransaction) -> None:
    """Once the transaction of a refused access is over (rolled back; or, for a read unit's
    events refused in a group commit, only their savepoint was, and the group's transaction
    committed: security/audit_group.py), record each refusal's alerts in a new transaction (on
    SQLite the write lock is free again). Never masks the refusal itself."""
    if transaction.parent is not None:  # a savepoint, not the transaction
        return
    refusals = session.info.pop(PENDING_REFUSAL, None) or []
    for refusal in refusals:
        try:
            database = monitor_for(session).database
            if database is None:
                raise RuntimeError("no monitor is installed on this database")
            record_refusal(database, refusal)
        except Exception:  # the refusal stands; the log says the alert is missing
            log.exception("could not record the read-budget refusal alert")


def record_refusal(database: Database, refusal: ReadBudgetExceeded) -> None:
    """The refusal's alerts (one blocked alert of each kind per user per short window) and, every
    time, its audit event, in a transaction of their own. The event names no patient (a refused
    read is not counted): what was asked, and its first object's id."""
    ctx = refusal.ctx
    with Gate(database).own_chain(ctx) as session:
        monitor = monitor_for(session)
        now = monitor.clock()
        for spec in refusal.alerts:
            if spec.kind in REFUSALS and recent_alert(
                session, ctx.actor_id, [spec.kind], now - monitor.window
            ):
                continue
            raise_alert(session, ctx, spec, at=now)
        audit.append(session, ctx, refusal_record(refusal))


def refusal_record(refusal: ReadBudgetExceeded) -> AuditRecord:
    blocked = next(a for a in refusal.alerts if a.kind in REFUSALS)
    asked = [r for r in refusal.refused if r.patient_id is not None and r.action not in NOT_COUNTED]
    first = asked[0] if asked else None
    detail = {
        "kind": blocked.kind,
        "window": blocked.detail.get("window", SHORT),
        "window_minutes": blocked.detail["window_minutes"],
        "threshold": blocked.detail["threshold"],
        "action": _action(refusal.refused),
        "patients": len(counted_patients(refusal.refused)),
    }
    return AuditRecord(
        REFUSED,
        first.object_type if first else "lab",
        first.object_id if first else str(refusal.ctx.lab_id),
        detail,
    )
