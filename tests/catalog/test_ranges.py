"""Reference-range selection by sex and age: paediatric bands, sex-specific bands, neutral fallback."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from labvault.catalog import ReferenceRange, age_in_days, default_catalog, select_range
from labvault.errors import InvalidInput

CATALOG = default_catalog()
YEAR = 365.25


def days(years: float) -> int:
    return round(years * YEAR)


def limits(interval: ReferenceRange | None) -> tuple[float | None, float | None] | None:
    return None if interval is None else (interval.low, interval.high)


def test_child_and_adult_haemoglobin() -> None:
    hgb = CATALOG.test("HGB")
    assert limits(select_range(hgb, "F", days(3))) == (11.0, 14.0)
    assert limits(select_range(hgb, "M", days(8))) == (11.5, 15.5)
    assert limits(select_range(hgb, "M", days(15))) == (12.0, 16.0)
    assert limits(select_range(hgb, "F", days(40))) == (12.0, 16.0)
    assert limits(select_range(hgb, "M", days(40))) == (13.0, 17.5)


def test_age_bounds_are_inclusive_then_exclusive() -> None:
    hgb = CATALOG.test("HGB")
    assert limits(select_range(hgb, "F", 2191)) == (11.0, 14.0)
    assert limits(select_range(hgb, "F", 2192)) == (11.5, 15.5)
    ntprobnp = CATALOG.test("NTPBNP")
    assert limits(select_range(ntprobnp, "M", 27393)) == (None, 125.0)
    assert limits(select_range(ntprobnp, "M", 27394)) == (None, 450.0)


def test_no_range_outside_every_band() -> None:
    hgb = CATALOG.test("HGB")
    assert select_range(hgb, "M", 30) is None  # newborn: no band in this example catalogue
    assert select_range(hgb, None, days(40)) is None  # adult bands are sex-specific only
    assert select_range(CATALOG.test("PSA"), "F", days(50)) is None


def test_child_alkaline_phosphatase_vs_adult() -> None:
    alp = CATALOG.test("ALP")
    assert limits(select_range(alp, "M", days(5))) == (150.0, 420.0)
    assert limits(select_range(alp, "F", days(30))) == (35.0, 105.0)
    assert limits(select_range(alp, "M", days(30))) == (40.0, 130.0)


def test_sex_specific_beats_neutral_and_neutral_is_the_fallback() -> None:
    neutral = ReferenceRange(None, 6575, None, 50.0, 100.0)
    crea = dataclasses.replace(
        CATALOG.test("CREA"), reference_ranges=(neutral, *CATALOG.test("CREA").reference_ranges)
    )
    assert limits(select_range(crea, "F", days(30))) == (45.0, 84.0)
    assert limits(select_range(crea, "M", days(30))) == (59.0, 104.0)
    assert select_range(crea, None, days(30)) == neutral


def test_negative_age_is_refused() -> None:
    with pytest.raises(InvalidInput):
        select_range(CATALOG.test("K"), "M", -1)


def test_age_in_days() -> None:
    assert age_in_days(dt.date(2026, 1, 1), dt.date(2026, 1, 1)) == 0
    assert age_in_days(dt.date(2000, 2, 29), dt.date(2001, 3, 1)) == 366
    assert age_in_days(dt.date(2026, 1, 1), dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC)) == 30
    with pytest.raises(InvalidInput) as caught:
        age_in_days(dt.date(2026, 2, 1), dt.date(2026, 1, 31))
    assert caught.value.field == "birth_date"
