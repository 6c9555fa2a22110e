"""Laboratories and their accounts (platform operators; lab admins for their own lab)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from labvault.identity.lab_service import LabInfo
from labvault.web.deps import Ctx, PlatformDep, RequireRecentAuth
from labvault.web.schemas import KeyRotationOut, LabIn, LabOut, UserIn, UserOut

router = APIRouter(prefix="/labs", tags=["labs"])


def _out(lab: LabInfo) -> LabOut:
    return LabOut(id=lab.id, code=lab.code, name=lab.name, finess=lab.finess, shredded=lab.shredded)


@router.get("", response_model=list[LabOut])
def list_labs(ctx: Ctx, platform: PlatformDep) -> list[LabOut]:
    return [_out(lab) for lab in platform.labs.list(ctx)]


@router.post("", response_model=LabOut, status_code=status.HTTP_201_CREATED)
def create_lab(body: LabIn, ctx: Ctx, platform: PlatformDep) -> LabOut:
    return _out(platform.labs.create(ctx, body.code, body.name, body.finess))


@router.get("/{lab_id}", response_model=LabOut)
def read_lab(lab_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> LabOut:
    return _out(platform.labs.get(ctx, lab_id))


@router.post(
    "/{lab_id}/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[RequireRecentAuth],  # re-authentication: a token alone does not create accounts
)
def create_user(lab_id: uuid.UUID, body: UserIn, ctx: Ctx, platform: PlatformDep) -> UserOut:
    """An individual account of the lab (its admin; an operator: only the first admin). A
    ``prescriber`` account names the physician it acts for (``physician_id``): 404 for one not of
    this lab, 409 when the physician already has an active account."""
    account = platform.accounts.create_user(
        ctx, body.username, body.password, body.role, lab_id, body.full_name, body.physician_id
    )
    return UserOut.of(account)


@router.post("/{lab_id}/keys/rotate", response_model=KeyRotationOut)
def rotate_keys(lab_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> KeyRotationOut:
    """New data key version; run ``labvault keys rotate`` to also re-encrypt existing values."""
    return KeyRotationOut(lab_id=lab_id, active_version=platform.labs.rotate_keys(ctx, lab_id))
