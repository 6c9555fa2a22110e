"""Reference-range selection: the interval printed next to a result depends on the patient's sex and age."""

from __future__ import annotations

import datetime as dt

from labvault.catalog.model import ReferenceRange, Sex, TestDefinition
from labvault.errors import InvalidInput


def age_in_days(birth_date: dt.date, at: dt.date | dt.datetime) -> int:
    """Age on the sampling date, in whole days (paediatric bands are defined in days)."""
    day = at.date() if isinstance(at, dt.datetime) else at
    if day < birth_date:
        raise InvalidInput("birth_date", "is after the sampling date")
    return (day - birth_date).days


def select_range(test: TestDefinition, sex: Sex | None, age_days: int) -> ReferenceRange | None:
    """The most specific range for this patient: a sex-specific band beats a sex-neutral one.

    The loader refuses overlapping bands for the same sex key, so at most one of each kind matches.
    An unknown sex only matches sex-neutral bands; no match means no interval to print or flag against.
    """
    if age_days < 0:
        raise InvalidInput("age_days", "must not be negative")
    neutral: ReferenceRange | None = None
    for candidate in test.reference_ranges:
        if not candidate.applies_to(sex, age_days):
            continue
        if candidate.sex is not None:
            return candidate
        neutral = candidate
    return neutral
