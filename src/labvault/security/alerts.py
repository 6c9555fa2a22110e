"""Raising security alerts, in the caller's transaction and audited like everything else."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.alert_models import Alert
from labvault.security.audit import AuditRecord


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class AlertSpec:
    """What happened; ``detail`` holds ids and counts only, never personal data."""

    kind: str
    severity: Severity
    detail: dict[str, Any] = field(default_factory=dict)
    patient_id: uuid.UUID | None = None
    blocked: bool = False


def raise_alert(session: Session, ctx: AccessContext, spec: AlertSpec) -> uuid.UUID:
    """Record an alert of the context's lab, and its audit event, in ``session``'s transaction."""
    if ctx.lab_id is None:
        raise ValueError("alerts belong to a laboratory")
    row = Alert(
        id=uuid.uuid4(),
        lab_id=ctx.lab_id,
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
    )
    return row.id
