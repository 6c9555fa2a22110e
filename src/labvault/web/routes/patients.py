"""Patient identity: create, read, update, and search by NIR, INS or name + birth date; and who
accessed a patient's record (the access log the patient portal will show).

Searches are POSTs so that no NIR or name ever sits in a URL (and so in access logs).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from labvault.oversight.access_log import MAX_PAGE, MAX_SEQ, AccessEntry, AccessLogPage, Words
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


class WordsOut(BaseModel):
    fr: str
    en: str

    @classmethod
    def of(cls, words: Words) -> WordsOut:
        return cls(fr=words.fr, en=words.en)


class AccessEntryOut(BaseModel):
    seq: int
    at: dt.datetime
    who: str
    role: str
    role_label: WordsOut
    lab_id: uuid.UUID | None
    lab_name: str
    action: str
    action_label: WordsOut
    purpose: str
    purpose_label: WordsOut
    break_glass: bool

    @classmethod
    def of(cls, entry: AccessEntry) -> AccessEntryOut:
        return cls(
            seq=entry.seq,
            at=entry.at,
            who=entry.who,
            role=entry.role,
            role_label=WordsOut.of(entry.role_words),
            lab_id=entry.lab_id,
            lab_name=entry.lab_name,
            action=entry.action,
            action_label=WordsOut.of(entry.action_words),
            purpose=entry.purpose,
            purpose_label=WordsOut.of(entry.purpose_words),
            break_glass=entry.break_glass,
        )


class AccessLogOut(BaseModel):
    patient_id: uuid.UUID
    entries: list[AccessEntryOut]
    next_before: int | None

    @classmethod
    def of(cls, page: AccessLogPage) -> AccessLogOut:
        entries = [AccessEntryOut.of(e) for e in page.entries]
        return cls(patient_id=page.patient_id, entries=entries, next_before=page.next_before)


@router.get("/{patient_id}/access-log", response_model=AccessLogOut)
def access_log(
    patient_id: uuid.UUID,
    ctx: Ctx,
    platform: PlatformDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_SEQ, description="next_before of the previous page")
    ] = None,
) -> AccessLogOut:
    """Who accessed the patient's record (person, role, lab), when, what and why, newest first;
    emergency (break-the-glass) accesses flagged. Biologists and lab admins; the reading is itself
    audited and listed."""
    return AccessLogOut.of(platform.access_log.for_patient(ctx, patient_id, limit=limit, before=before))
