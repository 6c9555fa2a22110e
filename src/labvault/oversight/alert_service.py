"""The lab's security officer (the ``lab_admin`` role for now) reads and acknowledges its alerts."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from labvault.errors import InvalidInput, NotFound
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.alert_models import Alert
from labvault.security.alerts import Severity, at_least
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.database import Database

MAX_PAGE = 200


@dataclass(frozen=True)
class AlertRecord:
    id: uuid.UUID
    at: dt.datetime
    kind: str
    severity: str
    actor_id: uuid.UUID | None
    actor_label: str
    role: str
    origin: str
    patient_id: uuid.UUID | None
    blocked: bool
    detail: dict[str, Any]
    acknowledged_at: dt.datetime | None
    acknowledged_by: uuid.UUID | None


@dataclass(frozen=True)
class AlertPage:
    alerts: list[AlertRecord]
    next_offset: int | None  # None: this was the last page


def _record(row: Alert) -> AlertRecord:
    return AlertRecord(
        row.id,
        row.at,
        row.kind,
        row.severity,
        row.actor_id,
        row.actor_label,
        row.role,
        row.origin,
        row.patient_id,
        row.blocked,
        dict(row.detail),
        row.acknowledged_at,
        row.acknowledged_by,
    )


class AlertService:
    def __init__(self, db: Database) -> None:
        self.gate = Gate(db)

    def list(
        self,
        ctx: AccessContext,
        *,
        since: dt.datetime | None = None,
        severity: Severity | None = None,
        open_only: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> AlertPage:
        """The lab's alerts, newest first. ``severity``: that level and above; ``open_only``: not
        yet acknowledged."""
        with self.gate.lab_rows(ctx, Permission.ALERTS_READ) as lab:
            if since is not None and since.tzinfo is None:
                raise InvalidInput("since", "needs a time zone (e.g. 2026-01-31T08:00:00Z)")
            if not 1 <= limit <= MAX_PAGE:
                raise InvalidInput("limit", f"must be 1 to {MAX_PAGE}")
            if offset < 0:
                raise InvalidInput("offset", "must not be negative")
            query = select(Alert).order_by(Alert.at.desc(), Alert.id)
            if since is not None:
                query = query.where(Alert.at >= since)
            if severity is not None:
                query = query.where(Alert.severity.in_(at_least(severity)))
            if open_only:
                query = query.where(Alert.acknowledged_at.is_(None))
            rows = lab.session.scalars(query.offset(offset).limit(limit + 1)).all()
            shown = [_record(row) for row in rows[:limit]]
            audit.append(
                lab.session,
                ctx,
                AuditRecord("alert.list", "lab", str(lab.lab_id), {"alerts": [str(a.id) for a in shown]}),
            )
        return AlertPage(shown, offset + limit if len(rows) > limit else None)

    def acknowledge(self, ctx: AccessContext, alert_id: uuid.UUID) -> AlertRecord:
        """Mark an alert as seen by this officer; acknowledging it again changes nothing."""
        with self.gate.lab_rows(ctx, Permission.ALERTS_ACK) as lab:
            session = lab.session
            row = session.get(Alert, alert_id)
            if row is None:
                raise NotFound(f"no alert {alert_id} in this laboratory")
            if row.acknowledged_at is None:
                row.acknowledged_at = utcnow()
                row.acknowledged_by = ctx.actor_id
                session.flush()
                audit.append(session, ctx, AuditRecord("alert.acknowledge", "alert", str(row.id)))
            return _record(row)
