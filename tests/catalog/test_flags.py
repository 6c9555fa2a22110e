"""Flags (critical beats range, limits inclusive) and delta checks."""

from __future__ import annotations

import math

import pytest

from labvault.catalog import Flag, default_catalog, delta_check, flag_coded, flag_numeric
from labvault.errors import InvalidInput

CATALOG = default_catalog()
ADULT = 40 * 365
CHILD = 5 * 365


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (4.2, Flag.N),
        (3.5, Flag.N),  # equal to the low limit: normal
        (3.4, Flag.L),
        (5.0, Flag.N),
        (5.1, Flag.H),
        (2.8, Flag.L),  # equal to the critical limit: only below the range
        (2.7, Flag.LL),
        (6.2, Flag.H),
        (6.3, Flag.HH),
    ],
)
def test_potassium_flags_and_boundaries(value: float, flag: Flag) -> None:
    assert flag_numeric(CATALOG.test("K"), value, "F", ADULT) is flag


def test_critical_limits_apply_without_a_reference_range() -> None:
    potassium = CATALOG.test("K")
    assert flag_numeric(potassium, 7.0, "M", CHILD) is Flag.HH  # adult-only ranges, critical still applies
    assert flag_numeric(potassium, 4.0, "M", CHILD) is Flag.N


def test_sex_dependent_flags() -> None:
    hgb = CATALOG.test("HGB")
    assert flag_numeric(hgb, 12.5, "F", ADULT) is Flag.N
    assert flag_numeric(hgb, 12.5, "M", ADULT) is Flag.L
    assert flag_numeric(hgb, 6.9, "M", ADULT) is Flag.LL


def test_numeric_flag_refuses_other_tests_and_non_finite_values() -> None:
    with pytest.raises(InvalidInput):
        flag_numeric(CATALOG.test("HIV"), 1.0, "M", ADULT)
    with pytest.raises(InvalidInput) as caught:
        flag_numeric(CATALOG.test("K"), math.nan, "M", ADULT)
    assert caught.value.field == "results.K"


def test_coded_flags() -> None:
    assert flag_coded(CATALOG.test("HIV"), "positive") is Flag.A
    assert flag_coded(CATALOG.test("HIV"), "equivocal") is Flag.A
    assert flag_coded(CATALOG.test("HIV"), "negative") is Flag.N
    assert flag_coded(CATALOG.test("ABO"), "O") is Flag.N
    assert flag_coded(CATALOG.test("TOXOG"), "positive") is Flag.N  # immune, not abnormal
    with pytest.raises(InvalidInput) as caught:
        flag_coded(CATALOG.test("HIV"), "reactive")
    assert caught.value.reason == "must be one of negative, positive, equivocal"
    with pytest.raises(InvalidInput):
        flag_coded(CATALOG.test("K"), "positive")


def test_delta_percent_within_window() -> None:
    crea = CATALOG.test("CREA")  # +50 % within 7 days
    found = delta_check(crea, 130.0, 80.0, 3)
    assert found is not None
    assert (found.change, found.percent_change) == (50.0, 62.5)
    assert delta_check(crea, 110.0, 80.0, 3) is None  # +37.5 %
    assert delta_check(crea, 130.0, 80.0, 10) is None  # previous result too old to compare
    assert delta_check(crea, 40.0, 80.0, 7) is None  # exactly -50 %: not beyond the threshold


def test_delta_absolute() -> None:
    potassium = CATALOG.test("K")  # 1.0 mmol/L within 2 days
    found = delta_check(potassium, 5.2, 4.0, 1)
    assert found is not None and found.change == pytest.approx(1.2)
    assert delta_check(potassium, 5.0, 4.0, 1) is None


def test_delta_without_rule_or_baseline() -> None:
    assert delta_check(CATALOG.test("GLU"), 20.0, 5.0, 1) is None
    assert delta_check(CATALOG.test("PLT"), 100.0, 0.0, 1) is None  # percent rule, zero baseline
    with pytest.raises(InvalidInput):
        delta_check(CATALOG.test("K"), 5.0, 4.0, -1)
