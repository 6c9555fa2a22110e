"""A breach incident as the service hands it out (clear values, for its lab's officer), and what a
caller sends to open or change one. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, fields

from labvault.governance.incident_rules import Deadline, Nature, Source, Status

MAX_TEXT = 4000


@dataclass(frozen=True)
class IncidentDetails:
    """Everything people type about an incident: sealed in the database. ``summary``,
    ``consequences``, ``measures`` and ``dpo_contact`` are also what the patients' letter says:
    written for patients, in plain words, and about no one in particular."""

    summary: str = ""  # what happened
    people_categories: str = ""  # e.g. "patients du laboratoire"
    record_categories: str = ""  # e.g. "identité, coordonnées"
    consequences: str = ""  # likely consequences
    measures: str = ""  # measures taken or proposed
    dpo_contact: str = ""  # the data protection officer (name, address, e-mail, phone)

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DETAIL_FIELDS = tuple(f.name for f in fields(IncidentDetails))


@dataclass(frozen=True)
class IncidentInput:
    """What opens an incident."""

    discovered_at: dt.datetime
    nature: tuple[str, ...]
    details: IncidentDetails = field(default_factory=IncidentDetails)
    people_approx: int | None = None
    records_approx: int | None = None


@dataclass(frozen=True)
class IncidentChanges:
    """What an update changes (None: unchanged); ``details`` fields replace the named ones."""

    nature: tuple[str, ...] | None = None
    people_approx: int | None = None
    records_approx: int | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AffectedCounts:
    """Distinct affected patients, in all and by source (a patient found twice counts once in all)."""

    total: int
    by_source: dict[Source, int]


@dataclass(frozen=True)
class IncidentView:
    id: uuid.UUID
    lab_id: uuid.UUID
    discovered_at: dt.datetime
    opened_at: dt.datetime
    nature: tuple[Nature, ...]
    status: Status
    people_approx: int | None
    records_approx: int | None
    notified_at: dt.datetime | None
    closed_at: dt.datetime | None
    details: IncidentDetails
    deadline: Deadline
    affected: AffectedCounts


@dataclass(frozen=True)
class AffectedAdded:
    """What one source added: patients it found, those new to the incident, the incident's counts."""

    source: Source
    found: int
    added: int
    counts: AffectedCounts
