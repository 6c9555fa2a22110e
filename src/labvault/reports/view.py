"""What a report or a tube label shows, as plain values: the workflow services build these (after
authorising, decrypting and auditing); the renderers only lay them out, so they never touch keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

ReportKind = Literal["partial", "final"]


@dataclass(frozen=True)
class LabHeader:
    name: str
    finess: str
    code: str
    timezone: str = "Europe/Paris"  # IANA zone: aware (UTC) datetimes are shown in the lab's local time


@dataclass(frozen=True)
class PatientBlock:
    full_name: str  # "BIRTH NAME (used name) First names"
    sex: str  # M, F or U
    birth_date: dt.date
    nir: str | None  # the report shows it, as the French format asks; labels never do


@dataclass(frozen=True)
class PrescriberBlock:
    name: str
    rpps: str


@dataclass(frozen=True)
class PreviousValue:
    value: str
    date: dt.date


@dataclass(frozen=True)
class ResultLine:
    """One test on the report; ``value`` is None while the result awaits biological validation."""

    section: str
    test_code: str
    test_name: str
    value: str | None
    unit: str | None
    reference: str | None  # e.g. "12.0 - 16.0", "< 5.0", or None without an applicable range
    flag: str | None  # L, H, LL, HH, A; None or "N" for normal
    previous: PreviousValue | None
    comment: str | None
    validated_by: str | None
    version: int = 1  # > 1: corrected after validation
    correction_reason: str | None = None


@dataclass(frozen=True)
class ReportView:
    lab: LabHeader
    patient: PatientBlock
    prescriber: PrescriberBlock | None
    accession: str
    prescribed_on: dt.date | None
    collected_at: dt.datetime | None
    issued_at: dt.datetime  # the release time: the PDF carries no other clock, so it regenerates identically
    kind: ReportKind
    version: int
    lines: tuple[ResultLine, ...]
    validators: tuple[str, ...]  # biologists who validated what is shown


@dataclass(frozen=True)
class TrendPoint:
    date: dt.date
    value: float


@dataclass(frozen=True)
class HistorySeries:
    """A numeric test's validated results over time, for the cumulative view and its trend chart."""

    test_code: str
    test_name: str
    unit: str | None
    low: float | None
    high: float | None
    points: tuple[TrendPoint, ...]


@dataclass(frozen=True)
class HistoryView:
    lab: LabHeader
    patient: PatientBlock
    generated_at: dt.datetime
    series: tuple[HistorySeries, ...] = field(default=())


@dataclass(frozen=True)
class LabelView:
    """One tube label: the barcode, and just enough to match tube and patient at the bedside."""

    barcode: str
    accession: str
    tube: str
    specimen: str
    patient_line: str  # initials + birth date by default (shared printer queues), full name if configured
    collected_on: dt.date | None = None
