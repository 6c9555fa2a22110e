"""Patient identity: create, read, update, and search by NIR, INS or name + birth date.

Searches are POSTs so that no NIR or name ever sits in a URL (and so in access logs).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from labvault.web.deps import Ctx, PlatformDep
from labvault.web.schemas import (
    PatientIn,
    PatientList,
    PatientOut,
    PatientPatch,
    SearchByInsIn,
    SearchByNameIn,
    SearchByNirIn,
)

router = APIRouter(prefix="/patients", tags=["patients"])


@router.post("", response_model=PatientOut, status_code=status.HTTP_201_CREATED)
def create_patient(body: PatientIn, ctx: Ctx, platform: PlatformDep) -> PatientOut:
    """Register a patient. 409 with ``existing_ids`` on a duplicate (same NIR, or same name and
    birth date unless ``accept_homonym`` is set)."""
    record = platform.patients.register(ctx, body.to_domain(), accept_homonym=body.accept_homonym)
    return PatientOut.of(record)


@router.get("/{patient_id}", response_model=PatientOut)
def read_patient(patient_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> PatientOut:
    return PatientOut.of(platform.patients.get(ctx, patient_id))


@router.patch("/{patient_id}", response_model=PatientOut)
def update_patient(patient_id: uuid.UUID, body: PatientPatch, ctx: Ctx, platform: PlatformDep) -> PatientOut:
    changes = body.model_dump(exclude_unset=True, exclude={"expected_revision"})
    record = platform.patients.update(ctx, patient_id, changes, body.expected_revision)
    return PatientOut.of(record)


@router.post("/search/nir", response_model=PatientList)
def search_by_nir(body: SearchByNirIn, ctx: Ctx, platform: PlatformDep) -> PatientList:
    return PatientList(results=[PatientOut.of(r) for r in platform.patients.find_by_nir(ctx, body.nir)])


@router.post("/search/ins", response_model=PatientList)
def search_by_ins(body: SearchByInsIn, ctx: Ctx, platform: PlatformDep) -> PatientList:
    return PatientList(results=[PatientOut.of(r) for r in platform.patients.find_by_ins(ctx, body.ins)])


@router.post("/search/name", response_model=PatientList)
def search_by_name(body: SearchByNameIn, ctx: Ctx, platform: PlatformDep) -> PatientList:
    """Birth name or used name + birth date; accents, case and hyphens ignored."""
    records = platform.patients.find_by_name_birth(ctx, body.name, body.birth_date)
    return PatientList(results=[PatientOut.of(r) for r in records])
