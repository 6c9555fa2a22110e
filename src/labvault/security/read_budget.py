"""Read budgets: how many distinct patients one user touched in a sliding window.

Counted from the audit log itself (index ``(actor_id, at)``), the events being appended included,
so every service is covered without keeping a counter anywhere. Past the role's soft threshold one
alert per user per window; past the hard threshold the request is refused with
:class:`ReadBudgetExceeded`. Its transaction rolls back (nothing was read), so the alert saying it
was refused is written right after the rollback, in a transaction of its own
(:func:`_record_refusal`): one place, whoever called the service (web, CLI, a listener).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from labvault.errors import LabvaultError
from labvault.security.access import AccessContext
from labvault.security.alerts import AlertSpec, Severity, raise_alert, recent_alert
from labvault.security.audit import AuditRecord
from labvault.security.models import AuditEvent
from labvault.security.monitor import Monitor, monitor_for
from labvault.store.tenancy import scope_session

log = logging.getLogger(__name__)

SOFT = "read_budget"
BLOCKED = "read_budget_blocked"
MASS_EXPORT = "mass_export"
PENDING_REFUSAL = "labvault.pending_refusal"

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
_EVENTS = AuditEvent.__table__


class ReadBudgetExceeded(LabvaultError):
    """Too many distinct patients in the window for this role: refused (HTTP 429)."""

    def __init__(
        self, message: str, ctx: AccessContext, alerts: Sequence[AlertSpec], retry_after: int
    ) -> None:
        super().__init__(message)
        self.ctx = ctx
        self.alerts = tuple(alerts)
        self.retry_after = retry_after


def counted_patients(records: Sequence[AuditRecord]) -> set[uuid.UUID]:
    return {r.patient_id for r in records if r.patient_id is not None and r.action not in NOT_COUNTED}


def distinct_patients(session: Session, ctx: AccessContext, since: dt.datetime, stop_after: int) -> int:
    """Distinct patients in the user's counted events since ``since``; stops counting at
    ``stop_after`` (all a threshold needs to know), so a user far past it costs no more."""
    distinct = (
        select(_EVENTS.c.patient_id)
        .where(
            _EVENTS.c.actor_id == ctx.actor_id,
            _EVENTS.c.at >= since,
            _EVENTS.c.lab_id == ctx.lab_id,
            _EVENTS.c.patient_id.is_not(None),
            _EVENTS.c.action.not_in(NOT_COUNTED),
        )
        .distinct()
        .limit(stop_after)
    )
    return int(session.scalar(select(func.count()).select_from(distinct.subquery())) or 0)


def check_budget(
    session: Session,
    ctx: AccessContext,
    records: Sequence[AuditRecord],
    monitor: Monitor,
    now: dt.datetime,
) -> tuple[list[AlertSpec], AlertSpec | None]:
    """Alerts this batch raises (mass export, soft threshold) and, past the hard threshold, the
    alert of the refusal (the caller raises :class:`ReadBudgetExceeded`)."""
    batch = counted_patients(records)
    if not batch or ctx.actor_id is None:
        return [], None
    budget = monitor.budget(ctx.role.value)
    since = now - monitor.window
    minutes = int(monitor.window.total_seconds() // 60)
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
    detail: dict[str, Any] = {"distinct_patients": count, "window_minutes": minutes, "role": ctx.role.value}
    if count > budget.hard:
        blocked = AlertSpec(BLOCKED, Severity.HIGH, {**detail, "threshold": budget.hard}, blocked=True)
        return alerts, blocked
    if count > budget.soft and not recent_alert(session, ctx.actor_id, [SOFT, BLOCKED], since):
        alerts.append(AlertSpec(SOFT, Severity.MEDIUM, {**detail, "threshold": budget.soft}))
    return alerts, None


def refuse(session: Session, ctx: AccessContext, monitor: Monitor, alerts: Sequence[AlertSpec]) -> None:
    """Raise :class:`ReadBudgetExceeded`; its alerts are recorded once the transaction is rolled back."""
    blocked = next(a for a in alerts if a.kind == BLOCKED)
    seconds = int(monitor.window.total_seconds())
    refusal = ReadBudgetExceeded(
        f"read budget exceeded: more than {blocked.detail['threshold']} distinct patients in "
        f"{blocked.detail['window_minutes']} minutes for role {ctx.role.value}; the lab's security "
        "officer has been alerted",
        ctx,
        alerts,
        seconds,
    )
    session.info[PENDING_REFUSAL] = refusal
    raise refusal


def _action(records: Sequence[AuditRecord]) -> str:
    counted = [r.action for r in records if r.patient_id is not None and r.action not in NOT_COUNTED]
    return max(set(counted), key=counted.count) if counted else ""


@event.listens_for(Session, "after_soft_rollback")
def _record_refusal(session: Session, _previous: Any) -> None:
    """After the refused transaction rolled back (its connection released: on SQLite the write lock
    is free again), record its alerts in a new transaction. Never masks the refusal itself."""
    if session.in_transaction():  # a savepoint rolled back, not the transaction
        return
    refusal = session.info.pop(PENDING_REFUSAL, None)
    if not isinstance(refusal, ReadBudgetExceeded):
        return
    try:
        bind = session.get_bind()
        record_refusal(bind if isinstance(bind, Engine) else bind.engine, refusal)
    except Exception:  # the refusal stands; the log says the alert is missing
        log.exception("could not record the read-budget refusal alert")


def record_refusal(engine: Engine, refusal: ReadBudgetExceeded) -> None:
    """The refusal's alerts, in a transaction of their own (one blocked alert per user per window)."""
    ctx = refusal.ctx
    session = scope_session(Session(engine, expire_on_commit=False, autoflush=False), ctx.lab_id)
    try:
        with session.begin():
            monitor = monitor_for(session)
            now = monitor.clock()
            for spec in refusal.alerts:
                if spec.kind == BLOCKED and recent_alert(
                    session, ctx.actor_id, [BLOCKED], now - monitor.window
                ):
                    continue
                raise_alert(session, ctx, spec, at=now)
    finally:
        session.close()
