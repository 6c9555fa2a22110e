"""Tubes at the bench: collection, reception, rejection and lookup by barcode scan. The barcode
travels in the JSON body, never in a URL (it links a tube to a patient, and URLs end up in logs)."""

from __future__ import annotations

from fastapi import APIRouter

from labvault.web.deps import Ctx, PlatformDep
from labvault.web.workflow_schemas import BarcodeIn, CollectIn, RejectIn, SpecimenOut

router = APIRouter(prefix="/specimens", tags=["specimens"])


@router.post("/collect", response_model=SpecimenOut)
def collect(body: CollectIn, ctx: Ctx, platform: PlatformDep) -> SpecimenOut:
    """The tube was drawn (``collected_at``, default now, by the caller)."""
    return SpecimenOut.of(platform.specimens.collect(ctx, body.barcode, body.collected_at))


@router.post("/receive", response_model=SpecimenOut)
def receive(body: BarcodeIn, ctx: Ctx, platform: PlatformDep) -> SpecimenOut:
    """Scanned at reception: its tests join the bench worklists."""
    return SpecimenOut.of(platform.specimens.receive(ctx, body.barcode))


@router.post("/reject", response_model=SpecimenOut)
def reject(body: RejectIn, ctx: Ctx, platform: PlatformDep) -> SpecimenOut:
    """Not analysable (haemolysed, insufficient, wrong_tube, clotted, unlabelled, too_old, other):
    a replacement tube is awaited for its tests."""
    return SpecimenOut.of(platform.specimens.reject(ctx, body.barcode, body.reason, body.comment))


@router.post("/lookup", response_model=SpecimenOut)
def lookup(body: BarcodeIn, ctx: Ctx, platform: PlatformDep) -> SpecimenOut:
    """The tube with this barcode (404 when no tube of the caller's laboratory has it)."""
    return SpecimenOut.of(platform.specimens.get(ctx, body.barcode))
