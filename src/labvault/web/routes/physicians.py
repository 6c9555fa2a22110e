"""Prescribers known to the laboratory: register one, find one by RPPS (in the body, not the URL).
Orders name their prescriber by RPPS (``prescriber_rpps``) or by the id returned here."""

from __future__ import annotations

from fastapi import APIRouter, status

from labvault.web.deps import Ctx, PlatformDep
from labvault.web.schemas import PhysicianIn, PhysicianOut, SearchByRppsIn

router = APIRouter(prefix="/physicians", tags=["physicians"])


@router.post("", response_model=PhysicianOut, status_code=status.HTTP_201_CREATED)
def register_physician(body: PhysicianIn, ctx: Ctx, platform: PlatformDep) -> PhysicianOut:
    """409 with ``existing_ids`` when this RPPS is already registered in the laboratory."""
    return PhysicianOut.of(platform.physicians.register(ctx, body.to_domain()))


@router.post("/search", response_model=PhysicianOut)
def find_physician(body: SearchByRppsIn, ctx: Ctx, platform: PlatformDep) -> PhysicianOut:
    return PhysicianOut.of(platform.physicians.find_by_rpps(ctx, body.rpps))
