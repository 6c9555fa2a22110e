"""Raising security alerts, in the caller's transaction and audited like everything else.

A raised alert is pushed to the optional webhook once its transaction commits (an alert rolled
back with its transaction was never raised).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.alert_models import Alert
from labvault.security.audit import AuditRecord
from labvault.security.monitor import monitor_for

PENDING_PUSH = "labvault.alerts_to_push"
RAISED_HERE = "labvault.alerts_raised"  # ids of the alerts raised in the session's transaction


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_ORDER = tuple(Severity)


@dataclass(frozen=True)
class AlertSpec:
    """What happened; ``detail`` holds ids and counts only, never personal data."""

    kind: str
    severity: Severity
    detail: dict[str, Any] = field(default_factory=dict)
    patient_id: uuid.UUID | None = None
    blocked: bool = False


def raise_alert(
    session: Session,
    ctx: AccessContext,
    spec: AlertSpec,
    *,
    at: dt.datetime | None = None,
    on_lab: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record an alert of the context's lab, and its audit event, in ``session``'s transaction.
    ``on_lab``: the lab a platform context (an operator) acted on, whose admins must see it."""
    lab_id = ctx.lab_id or on_lab
    if lab_id is None:
        raise ValueError("alerts belong to a laboratory")
    monitor = monitor_for(session)
    row = Alert(
        id=uuid.uuid4(),
        lab_id=lab_id,
        at=at or monitor.clock(),
        kind=spec.kind,
        severity=spec.severity.value,
        actor_id=ctx.actor_id,
        actor_label=ctx.actor_label,
        role=ctx.role.value,
        origin=ctx.origin[:64],
        patient_id=spec.patient_id,
        blocked=spec.blocked,
        detail=spec.detail,
    )
    session.add(row)
    session.flush()
    session.info.setdefault(RAISED_HERE, set()).add(row.id)
    audit.append(
        session,
        ctx,
        AuditRecord(
            "alert.raise",
            "alert",
            str(row.id),
            {"kind": spec.kind, "severity": spec.severity.value, "blocked": spec.blocked},
            patient_id=spec.patient_id,
        ),
        on_lab=on_lab,
    )
    if monitor.webhook is not None:
        session.info.setdefault(PENDING_PUSH, []).append(
            {
                "alert_id": str(row.id),
                "lab_id": str(lab_id),
                "lab_code": monitor.lab_code(session, lab_id) if monitor.lab_code else None,
                "kind": spec.kind,
                "severity": spec.severity.value,
                "blocked": spec.blocked,
                "at": row.at.isoformat(),
            }
        )
    return row.id


def recent_alert(
    session: Session, actor_id: uuid.UUID | None, kinds: Iterable[str], since: dt.datetime
) -> uuid.UUID | None:
    """An alert of one of ``kinds`` this user already has since ``since``, if any (deduplication:
    one alert per user per window, not one per request)."""
    query = select(Alert.id).where(Alert.actor_id == actor_id, Alert.kind.in_(list(kinds)), Alert.at >= since)
    return session.scalars(query.limit(1)).first()


def raised_here(session: Session, alert_id: uuid.UUID) -> bool:
    """Raised in this session's transaction (so not yet committed: it may still roll back)."""
    return alert_id in session.info.get(RAISED_HERE, ())


def at_least(severity: Severity) -> list[str]:
    """This severity and the ones above it."""
    return [s.value for s in SEVERITY_ORDER[SEVERITY_ORDER.index(severity) :]]


@event.listens_for(Session, "after_commit")
def _push_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction may still roll back
        return
    payloads = session.info.pop(PENDING_PUSH, None)
    if payloads:
        webhook = monitor_for(session).webhook
        if webhook is not None:
            webhook.send(payloads)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous: Any) -> None:
    if not session.in_transaction():  # the whole transaction, not a savepoint
        session.info.pop(PENDING_PUSH, None)
