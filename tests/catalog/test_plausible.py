"""Plausible limits in the catalogue: every shipped numeric test has sensible ones, and a catalogue
whose limits are malformed, non-finite or narrower than its own ranges is refused naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from labvault.catalog import ckd_epi_2021, default_catalog, ldl_friedewald, load_catalog_dict
from labvault.catalog.model import DEFAULT_PLAUSIBLE, PlausibleLimits
from labvault.errors import InvalidInput
from tests.catalog.helpers import entry_for, packaged_data

CATALOG = default_catalog()


def refused(data: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        load_catalog_dict(data)
    return caught.value


def test_every_shipped_numeric_test_sets_its_own_limits() -> None:
    for test in CATALOG.tests:
        if test.result_type != "numeric":
            assert test.plausible is None, test.code
            continue
        assert test.plausible is not None, f"{test.code} relies on the default limits"
        limits = test.plausible
        for interval in test.reference_ranges:
            assert all(limits.contains(b) for b in (interval.low, interval.high) if b is not None), test.code
        if test.critical is not None:
            bounds = (test.critical.low, test.critical.high)
            assert all(limits.contains(b) for b in bounds if b is not None), test.code


def test_the_common_tests_have_clinically_sensible_limits() -> None:
    """Wide enough for the extremes seen in living patients, narrow enough to catch a unit slip."""
    expected = {
        "K": PlausibleLimits(0.5, 15.0),
        "NA": PlausibleLimits(80.0, 220.0),
        "GLU": PlausibleLimits(0.0, 150.0),
        "HGB": PlausibleLimits(1.0, 30.0),  # 140 typed in g/L is refused as g/dL
        "PLT": PlausibleLimits(0.0, 5000.0),
        "INR": PlausibleLimits(0.5, 20.0),
    }
    assert {code: CATALOG.test(code).plausible for code in expected} == expected


def test_calculated_results_stay_within_their_limits() -> None:
    """A calculation from plausible inputs must itself be plausible, or a correct entry would fail."""
    crea, egfr = CATALOG.test("CREA").plausible_limits, CATALOG.test("EGFR").plausible_limits
    for sex in ("M", "F"):
        for age in (18.0, 120.0):
            for creatinine in (crea.low, crea.high):
                assert egfr.contains(ckd_epi_2021(creatinine, age, sex)), (sex, age, creatinine)
    chol, ldl = CATALOG.test("CHOL").plausible_limits, CATALOG.test("LDLC").plausible_limits
    assert ldl.contains(ldl_friedewald(chol.high, 0.0, 0.0) or 0.0)


def test_limits_round_trip_and_default_when_absent() -> None:
    data = packaged_data()
    assert entry_for(data, "K")["plausible"] == [0.5, 15.0]
    del entry_for(data, "K")["plausible"]
    loaded = load_catalog_dict(json.loads(json.dumps(data)))
    assert loaded.test("K").plausible is None
    assert loaded.test("K").plausible_limits == DEFAULT_PLAUSIBLE == PlausibleLimits(0.0, 1e9)


@pytest.mark.parametrize(
    ("plausible", "field", "reason"),
    [
        ([15, 0.5], "tests.K.plausible", "low must be below high"),
        ([5, 5], "tests.K.plausible", "low must be below high"),
        ([0.5], "tests.K.plausible", "must be a list of two numbers [low, high]"),
        ({"low": 0.5, "high": 15}, "tests.K.plausible", "must be a list of two numbers [low, high]"),
        (["0.5", 15], "tests.K.plausible", "must be a list of two numbers [low, high]"),
        ([True, 15], "tests.K.plausible", "must be a list of two numbers [low, high]"),
        ([0.5, float("inf")], "tests.K.plausible[1]", "must be a finite number"),
        ([float("nan"), 15], "tests.K.plausible[0]", "must be a finite number"),
        ([0.5, 10**400], "tests.K.plausible[1]", "must be a finite number"),
        ([3.6, 15], "tests.K.reference_ranges[0]", "3.5 lies outside the plausible limits [3.6, 15]"),
        ([0.5, 6.0], "tests.K.critical", "6.2 lies outside the plausible limits [0.5, 6]"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(plausible: object, field: str, reason: str) -> None:
    data = packaged_data()
    entry_for(data, "K")["plausible"] = plausible
    error = refused(data)
    assert (error.field, error.reason) == (field, reason)


def test_only_numeric_tests_have_limits() -> None:
    data = packaged_data()
    entry_for(data, "HIV")["plausible"] = [0, 1]
    error = refused(data)
    assert (error.field, error.reason) == ("tests.HIV.plausible", "only numeric tests have plausible")


def test_non_finite_numbers_elsewhere_in_the_catalogue_are_refused() -> None:
    """Python's json reads NaN and Infinity: a range or critical limit must not be one."""
    data = json.loads(json.dumps(packaged_data()).replace('"high": 5.0', '"high": Infinity', 1))
    error = refused(data)
    assert error.reason == "must be a finite number" and error.field.endswith(".high")
