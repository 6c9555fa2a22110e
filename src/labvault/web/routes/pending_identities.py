"""Pending identities, for reception: the patients an order-sending interface named that no one
here matched (interop/order_intake.py). Each is checked, then confirmed, or merged into the
patient it turns out to be (workflow/pending_identities.py). Included before the patients' routes:
``/patients/pending`` is not a patient id."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field

from labvault.web.deps import Ctx, PlatformDep
from labvault.web.schemas import PatientOut, Strict

router = APIRouter(prefix="/patients/pending", tags=["patients"])


class PendingOut(BaseModel):
    patient: PatientOut
    orders: int = Field(description="orders the interface placed for this identity")
    possible_matches: list[uuid.UUID] = Field(
        description="confirmed patients with the same name and birth date: check for a duplicate"
    )


class PendingList(BaseModel):
    results: list[PendingOut]


class MergeIn(Strict):
    into: uuid.UUID


class MergeOut(BaseModel):
    into: uuid.UUID
    orders_moved: int


@router.get("", response_model=PendingList)
def list_pending(ctx: Ctx, platform: PlatformDep) -> PendingList:
    """The lab's pending identities, oldest first."""
    found = platform.pending_identities.list(ctx)
    return PendingList(
        results=[
            PendingOut(
                patient=PatientOut.of(p.record), orders=p.orders, possible_matches=list(p.possible_matches)
            )
            for p in found
        ]
    )


@router.post("/{patient_id}/confirm", response_model=PatientOut)
def confirm_pending(patient_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> PatientOut:
    """Reception checked this identity (papers, INS teleservice): it is a patient like any other."""
    return PatientOut.of(platform.pending_identities.confirm(ctx, patient_id))


@router.post("/{patient_id}/merge", response_model=MergeOut)
def merge_pending(patient_id: uuid.UUID, body: MergeIn, ctx: Ctx, platform: PlatformDep) -> MergeOut:
    """This pending identity is the confirmed patient ``into``: its orders move there, it is deleted."""
    moved = platform.pending_identities.merge(ctx, patient_id, body.into)
    return MergeOut(into=body.into, orders_moved=moved)
