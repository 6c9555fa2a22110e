"""Break-the-glass: open a patient's restricted results, in an emergency, for a limited time.

The caller re-authenticates first (``POST /api/v1/auth/reauth``), then states why. The override
lasts at most four hours and covers that one patient; it is audited, raises a high alert, and every
read it unlocks is audited too (workflow/break_glass.py).
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from labvault.web.deps import Ctx, CurrentAccount, PlatformDep
from labvault.web.schemas import Strict
from labvault.workflow.break_glass import DEFAULT_MINUTES, MAX_MINUTES, OverrideInfo

router = APIRouter(tags=["break-glass"])


class BreakGlassIn(Strict):
    patient_id: uuid.UUID
    reason: str = Field(
        max_length=1000, description="Why (15 to 500 characters): stored encrypted, for the security officer"
    )
    minutes: int = Field(default=DEFAULT_MINUTES, ge=1, le=MAX_MINUTES, description="At most four hours")


class BreakGlassOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    opened_at: dt.datetime
    expires_at: dt.datetime

    @classmethod
    def of(cls, info: OverrideInfo) -> BreakGlassOut:
        return cls(
            id=info.id, patient_id=info.patient_id, opened_at=info.opened_at, expires_at=info.expires_at
        )


@router.post("/break-glass", response_model=BreakGlassOut, status_code=status.HTTP_201_CREATED)
def break_glass(
    body: BreakGlassIn, ctx: Ctx, account: CurrentAccount, platform: PlatformDep
) -> BreakGlassOut:
    """Open the patient's restricted tests to the caller until ``expires_at``. 403 for a caller who
    has not re-authenticated in the last minutes or whose role reads no results; 409 for a
    biologist, who sees them anyway; 422 without a reason of 15 to 500 characters."""
    info = platform.break_glass.open(account, ctx, body.patient_id, body.reason, body.minutes)
    return BreakGlassOut.of(info)
