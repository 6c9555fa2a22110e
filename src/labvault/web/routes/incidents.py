"""Breach response for the lab's security officer (the lab_admin role): incidents, their affected
patients (ids only) and the drafts to send (CNIL notification, letters to patients) as PDF.
Thin: the service decides, seals, counts and audits (governance/incidents.py). A leaked file is
checked at the console (``labvault incident affected-from-check``), where it was found."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from labvault.governance.incident_data import (
    AffectedAdded,
    IncidentChanges,
    IncidentDetails,
    IncidentInput,
    IncidentView,
)
from labvault.governance.incident_rules import Nature, Source, Status
from labvault.web.deps import Ctx, PlatformDep
from labvault.web.schemas import Strict
from labvault.web.workflow_schemas import PDF_RESPONSES, pdf_response

router = APIRouter(prefix="/incidents", tags=["incidents"])

Count = Annotated[int, Field(ge=0, le=100_000_000)]
Text = Annotated[str, Field(max_length=4000)]
Natures = Annotated[list[Nature], Field(min_length=1, max_length=3)]


class DetailsIn(Strict):
    """Free text, sealed in the database. summary, consequences, measures and dpo_contact are also
    what the patients' letter says: write them for patients, about no one in particular."""

    summary: Text | None = None
    people_categories: Text | None = None
    record_categories: Text | None = None
    consequences: Text | None = None
    measures: Text | None = None
    dpo_contact: Text | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}


class IncidentIn(Strict):
    discovered_at: AwareDatetime = Field(description="when the breach was discovered: the 72 h start")
    nature: Natures
    details: DetailsIn = Field(default_factory=DetailsIn)
    people_approx: Count | None = None
    records_approx: Count | None = None


class IncidentPatch(Strict):
    nature: Natures | None = None
    details: DetailsIn = Field(default_factory=DetailsIn)
    people_approx: Count | None = None
    records_approx: Count | None = None


class DeadlineOut(BaseModel):
    due: dt.datetime = Field(description="discovery + 72 hours (GDPR art. 33)")
    seconds_left: int = Field(description="negative once overdue; frozen at the notification")
    overdue: bool
    words: str


class IncidentOut(BaseModel):
    id: uuid.UUID
    discovered_at: dt.datetime
    opened_at: dt.datetime
    nature: list[Nature]
    status: Status
    people_approx: int | None
    records_approx: int | None
    notified_at: dt.datetime | None
    closed_at: dt.datetime | None
    details: dict[str, str]
    deadline: DeadlineOut
    affected: int = Field(description="distinct affected patients")
    affected_by_source: dict[Source, int]

    @classmethod
    def of(cls, view: IncidentView) -> IncidentOut:
        return cls(
            id=view.id,
            discovered_at=view.discovered_at,
            opened_at=view.opened_at,
            nature=list(view.nature),
            status=view.status,
            people_approx=view.people_approx,
            records_approx=view.records_approx,
            notified_at=view.notified_at,
            closed_at=view.closed_at,
            details=view.details.as_dict(),
            deadline=DeadlineOut(
                due=view.deadline.due,
                seconds_left=int(view.deadline.time_left.total_seconds()),
                overdue=view.deadline.overdue,
                words=view.deadline.words(),
            ),
            affected=view.affected.total,
            affected_by_source=view.affected.by_source,
        )


class IncidentList(BaseModel):
    incidents: list[IncidentOut]


class AuditQueryIn(Strict):
    account: str = Field(min_length=1, max_length=64, description="username or account id")
    start: AwareDatetime = Field(description="included")
    end: AwareDatetime = Field(description="excluded")


class AffectedAddedOut(BaseModel):
    source: Source
    found: int
    added: int
    affected: int
    affected_by_source: dict[Source, int]

    @classmethod
    def of(cls, added: AffectedAdded) -> AffectedAddedOut:
        return cls(
            source=added.source,
            found=added.found,
            added=added.added,
            affected=added.counts.total,
            affected_by_source=added.counts.by_source,
        )


class AffectedPatientOut(BaseModel):
    patient_id: uuid.UUID
    sources: list[Source]


class AffectedOut(BaseModel):
    patients: list[AffectedPatientOut]


class NotifyIn(Strict):
    at: AwareDatetime | None = Field(default=None, description="when the CNIL was notified; default now")


@router.post("", response_model=IncidentOut, status_code=status.HTTP_201_CREATED)
def open_incident(body: IncidentIn, ctx: Ctx, platform: PlatformDep) -> IncidentOut:
    data = IncidentInput(
        body.discovered_at,
        tuple(n.value for n in body.nature),
        IncidentDetails(**body.details.given()),
        body.people_approx,
        body.records_approx,
    )
    return IncidentOut.of(platform.incidents.open(ctx, data))


@router.get("", response_model=IncidentList)
def list_incidents(ctx: Ctx, platform: PlatformDep) -> IncidentList:
    """The caller's lab's incidents, newest discovery first."""
    return IncidentList(incidents=[IncidentOut.of(v) for v in platform.incidents.list(ctx)])


@router.get("/{incident_id}", response_model=IncidentOut)
def read_incident(incident_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> IncidentOut:
    return IncidentOut.of(platform.incidents.get(ctx, incident_id))


@router.patch("/{incident_id}", response_model=IncidentOut)
def update_incident(
    incident_id: uuid.UUID, body: IncidentPatch, ctx: Ctx, platform: PlatformDep
) -> IncidentOut:
    nature = tuple(n.value for n in body.nature) if body.nature else None
    changes = IncidentChanges(nature, body.people_approx, body.records_approx, body.details.given())
    return IncidentOut.of(platform.incidents.update(ctx, incident_id, changes))


@router.post("/{incident_id}/affected/audit", response_model=AffectedAddedOut)
def affected_from_audit(
    incident_id: uuid.UUID, body: AuditQueryIn, ctx: Ctx, platform: PlatformDep
) -> AffectedAddedOut:
    """Add every patient the account accessed in [start, end), from the lab's audit log."""
    added = platform.incidents.affected_from_audit(ctx, incident_id, body.account, body.start, body.end)
    return AffectedAddedOut.of(added)


@router.get("/{incident_id}/affected", response_model=AffectedOut)
def affected(incident_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> AffectedOut:
    """The affected patients by id (never an identity), with the sources that found each."""
    found = platform.incidents.affected(ctx, incident_id)
    return AffectedOut(
        patients=[
            AffectedPatientOut(patient_id=pid, sources=[s for s in Source if s in sources])
            for pid, sources in sorted(found.items())
        ]
    )


@router.post("/{incident_id}/notify", response_model=IncidentOut)
def notify(
    incident_id: uuid.UUID, ctx: Ctx, platform: PlatformDep, body: NotifyIn | None = None
) -> IncidentOut:
    """Record the notification to the CNIL (``at``, default now)."""
    return IncidentOut.of(platform.incidents.notify(ctx, incident_id, body.at if body else None))


@router.post("/{incident_id}/close", response_model=IncidentOut)
def close(incident_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> IncidentOut:
    """The response is over (notified, or documented as not needing a notification)."""
    return IncidentOut.of(platform.incidents.close(ctx, incident_id))


@router.get("/{incident_id}/cnil.pdf", response_class=Response, responses=PDF_RESPONSES)
def cnil_pdf(incident_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> Response:
    """The draft notification to the CNIL (art. 33), in French."""
    return pdf_response(platform.incidents.draft_cnil(ctx, incident_id), "notification-cnil.pdf")


@router.get("/{incident_id}/letters.pdf", response_class=Response, responses=PDF_RESPONSES)
def letters_pdf(incident_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> Response:
    """The letters to the affected patients (art. 34), one page each: each name and address is an
    audited read that counts against the caller's read budget."""
    return pdf_response(platform.incidents.draft_letters(ctx, incident_id), "lettres-patients.pdf")
