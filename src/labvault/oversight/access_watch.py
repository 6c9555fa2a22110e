"""The checks run on every batch of audit events, from the audit log's single choke point
(``audit.append_many``), in the transaction of the access they record: canaries, read budgets and
mass exports, off-hours access, new network origins.

Alerts are raised in the same transaction (they stand or fall with the access); past a hard read
budget the access is refused instead, and its alerts are recorded after the rollback
(oversight/read_budget.py). Batches made only of alert events (the monitor's own writes) are not
watched, which also keeps raising an alert from re-entering here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from labvault.oversight.access_patterns import new_origin_alert, off_hours_alert
from labvault.oversight.canaries import canaries_among
from labvault.oversight.read_budget import check_budget, refuse
from labvault.oversight.read_counts import opened_patients
from labvault.oversight.read_marks import mark
from labvault.security.access import AccessContext, Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord
from labvault.security.monitor import monitor_for
from labvault.store.tenancy import LAB_KEY

CANARY = "canary"
# Events that name a patient without anyone seeing it: its creation (a canary's own registration)
# and the monitor's own alerts.
NOT_ACCESS = frozenset({"patient.create", "alert.raise", "alert.acknowledge"})


def watch(
    session: Session,
    ctx: AccessContext,
    records: Sequence[AuditRecord],
    batch_at: dt.datetime,
    chain_end: int,
) -> None:
    if ctx.lab_id is None or all(r.action.startswith("alert.") for r in records):
        return
    if session.info.get(LAB_KEY) != ctx.lab_id:
        return  # account and token changes run in platform transactions: they name no patient
    mark(session, ctx.lab_id, ctx.actor_id, opened_patients(records), batch_at)  # before counting
    monitor = monitor_for(session)
    now = monitor.clock()
    alerts = canary_alerts(session, records)
    blocked: AlertSpec | None = None
    if ctx.actor_id is not None:
        # An analyzer runs through the night: only people's night-time access is unusual.
        night = None if ctx.role is Role.INTERFACE else off_hours_alert(session, ctx, monitor, now)
        for found in (night, new_origin_alert(session, ctx, monitor, now, batch_at)):
            if found is not None:
                alerts.append(found)
        budget_alerts, blocked = check_budget(session, ctx, records, monitor, now, chain_end)
        alerts += budget_alerts
    if blocked is not None:
        refused = [dataclasses.replace(a, blocked=True) if a.kind == CANARY else a for a in alerts]
        refuse(session, ctx, monitor, [blocked, *refused], records)
    for spec in alerts:
        raise_alert(session, ctx, spec, at=now)


def canary_alerts(session: Session, records: Sequence[AuditRecord]) -> list[AlertSpec]:
    """One high alert per canary these events name. The alert names the canary, not its patient:
    the security officer's alert list must not tell which patients are canaries."""
    touched = {
        r.patient_id: r.action for r in records if r.patient_id is not None and r.action not in NOT_ACCESS
    }
    if not touched:
        return []
    return [
        AlertSpec(CANARY, Severity.HIGH, {"canary_id": str(canary_id), "action": touched[patient_id]})
        for patient_id, canary_id in canaries_among(session, touched).items()
    ]
