"""The lab's security alerts, for its security officer (the lab_admin role): list, acknowledge."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from labvault.oversight.alert_service import MAX_PAGE, AlertRecord
from labvault.security.alerts import Severity
from labvault.web.deps import Ctx, PlatformDep

router = APIRouter(prefix="/alerts", tags=["alerts"])


class AlertOut(BaseModel):
    id: uuid.UUID
    at: dt.datetime
    kind: str = Field(
        description="canary, read_budget(_blocked), read_budget_hour, read_budget_day, read_rate, "
        "read_budget_lab(_blocked), mass_export, off_hours, new_origin..."
    )
    severity: Severity
    actor_id: uuid.UUID | None
    actor_label: str
    role: str
    origin: str
    patient_id: uuid.UUID | None
    blocked: bool = Field(description="the request that raised it was refused")
    detail: dict[str, Any] = Field(description="ids and counts only")
    acknowledged_at: dt.datetime | None
    acknowledged_by: uuid.UUID | None

    @classmethod
    def of(cls, alert: AlertRecord) -> AlertOut:
        return cls(**vars(alert))


class AlertPageOut(BaseModel):
    alerts: list[AlertOut]
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


@router.get("", response_model=AlertPageOut)
def list_alerts(
    ctx: Ctx,
    platform: PlatformDep,
    since: Annotated[
        dt.datetime | None, Query(description="only alerts at or after (with a time zone)")
    ] = None,
    severity: Annotated[Severity | None, Query(description="this severity and above")] = None,
    open_only: Annotated[bool, Query(alias="open", description="only alerts not yet acknowledged")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPageOut:
    """The caller's lab's alerts, newest first."""
    page = platform.alerts.list(
        ctx, since=since, severity=severity, open_only=open_only, limit=limit, offset=offset
    )
    return AlertPageOut(alerts=[AlertOut.of(a) for a in page.alerts], next_offset=page.next_offset)


@router.post("/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(alert_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> AlertOut:
    """Mark the alert as seen (idempotent: the first acknowledgement is kept)."""
    return AlertOut.of(platform.alerts.acknowledge(ctx, alert_id))
