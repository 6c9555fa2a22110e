"""Support access: a lab admin lets a platform operator into the lab, read-only, for a few hours.

With an active grant the operator sends ``X-Support-Lab: <lab id>`` and acts in that lab in the
SUPPORT role (oversight/support_grants.py); without one, the operator reads nothing of any patient.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from labvault.oversight.support_grants import MAX_HOURS, GrantInfo
from labvault.store.base import utcnow
from labvault.web.deps import Ctx, CurrentAccount, PlatformDep
from labvault.web.schemas import Strict

router = APIRouter(prefix="/support-grants", tags=["support"])


class SupportGrantIn(Strict):
    operator: str = Field(min_length=1, max_length=64, description="The operator's username or id")
    hours: int = Field(ge=1, le=MAX_HOURS)
    reason: str = Field(max_length=1000, description="Why (15 to 500 characters)")


class SupportGrantOut(BaseModel):
    id: uuid.UUID
    lab_id: uuid.UUID
    operator_id: uuid.UUID
    operator_username: str
    granted_by: uuid.UUID | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool

    @classmethod
    def of(cls, info: GrantInfo) -> SupportGrantOut:
        return cls(
            id=info.id,
            lab_id=info.lab_id,
            operator_id=info.operator_id,
            operator_username=info.operator_username,
            granted_by=info.granted_by,
            created_at=info.created_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            active=info.active(utcnow()),
        )


@router.post("", response_model=SupportGrantOut, status_code=status.HTTP_201_CREATED)
def grant_support(
    body: SupportGrantIn, ctx: Ctx, account: CurrentAccount, platform: PlatformDep
) -> SupportGrantOut:
    """Grant a platform operator read-only access to the caller's lab (lab admins, re-authenticated
    within the last minutes)."""
    info = platform.support.grant(account, ctx, body.operator, body.hours, body.reason)
    return SupportGrantOut.of(info)


@router.get("", response_model=list[SupportGrantOut])
def list_support_grants(ctx: Ctx, platform: PlatformDep) -> list[SupportGrantOut]:
    return [SupportGrantOut.of(info) for info in platform.support.list(ctx)]


@router.delete("/{grant_id}", response_model=SupportGrantOut)
def revoke_support_grant(grant_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> SupportGrantOut:
    """End a grant now: the operator's next request in the lab is refused."""
    return SupportGrantOut.of(platform.support.revoke(ctx, grant_id))
