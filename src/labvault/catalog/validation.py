"""Catalogue rules that a single field cannot check: consistency inside a test and across the catalogue."""

from __future__ import annotations

import re

from labvault.catalog.loinc import LOINC_FORMAT, loinc_check_digit_ok
from labvault.catalog.model import Panel, TestDefinition
from labvault.errors import InvalidInput

TEST_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
NABM_CODE = re.compile(r"^[0-9]{4}$")
CODE_RULE = "must be 1-16 capitals, digits or '_', starting with a capital"
MAX_DECIMALS = 6
FORMULA_ARITY = {"ckd_epi_2021": 1, "ldl_friedewald": 3}

# Analytes whose results must stay restricted (French rules on HIV, hepatitis, syphilis and pregnancy
# results). Recognised by LOINC code, so a lab adding another code for the same analyte extends the list.
RESTRICTED_CATEGORIES: dict[str, frozenset[str]] = {
    "HIV": frozenset({"56888-1"}),
    "hepatitis B": frozenset({"5195-3", "5196-1", "16933-4", "16935-9"}),
    "hepatitis C": frozenset({"13955-0", "16128-1"}),
    "syphilis": frozenset({"5292-8", "8041-6", "20507-0", "24110-9"}),
    "pregnancy (hCG)": frozenset({"83086-9"}),
}


def validate_test(test: TestDefinition) -> None:
    """Refuse a test whose fields contradict each other (e.g. a numeric test without ranges)."""
    where = f"tests.{test.code}"
    if not TEST_CODE.match(test.code):
        raise InvalidInput(f"{where}.code", CODE_RULE)
    if test.loinc is not None:
        if not LOINC_FORMAT.match(test.loinc):
            raise InvalidInput(f"{where}.loinc", f"{test.loinc!r} is not shaped like a LOINC code")
        if not loinc_check_digit_ok(test.loinc):
            raise InvalidInput(f"{where}.loinc", f"{test.loinc!r} fails the LOINC mod-10 check digit")
    if test.nabm is not None and not NABM_CODE.match(test.nabm):
        raise InvalidInput(f"{where}.nabm", "must be a 4-digit NABM act code")
    if test.nabm_b is not None and (test.nabm is None or test.nabm_b <= 0):
        raise InvalidInput(f"{where}.nabm_b", "must be a positive coefficient of a given NABM code")
    if test.result_type == "numeric":
        _validate_numeric(test, where)
    else:
        _validate_non_numeric(test, where)


def _validate_numeric(test: TestDefinition, where: str) -> None:
    if test.decimals is None or not 0 <= test.decimals <= MAX_DECIMALS:
        raise InvalidInput(f"{where}.decimals", f"a numeric test needs 0 to {MAX_DECIMALS} decimals")
    if not test.unit:
        raise InvalidInput(f"{where}.unit", "a numeric test needs a UCUM unit")
    if test.coded_values or test.abnormal_codes:
        raise InvalidInput(f"{where}.coded_values", "a numeric test has no coded values")
    if not test.reference_ranges:
        raise InvalidInput(f"{where}.reference_ranges", "a numeric test needs at least one reference range")
    for index, interval in enumerate(test.reference_ranges):
        field = f"{where}.reference_ranges[{index}]"
        if interval.age_min_days < 0:
            raise InvalidInput(f"{field}.age_min_days", "must not be negative")
        if interval.age_max_days is not None and interval.age_max_days <= interval.age_min_days:
            raise InvalidInput(f"{field}.age_max_days", "must be greater than age_min_days")
        if interval.low is None and interval.high is None:
            raise InvalidInput(field, "needs a low or a high limit")
        if interval.low is not None and interval.high is not None and interval.low > interval.high:
            raise InvalidInput(field, "low is greater than high")
        for other_index in range(index):
            if interval.overlaps(test.reference_ranges[other_index]):
                sex = interval.sex or "both sexes"
                raise InvalidInput(
                    f"{where}.reference_ranges",
                    f"ranges {other_index} and {index} overlap for {sex}: the selection would be ambiguous",
                )
    critical = test.critical
    if critical is not None:
        if critical.low is None and critical.high is None:
            raise InvalidInput(f"{where}.critical", "needs a low or a high limit")
        if critical.low is not None and critical.high is not None and critical.low >= critical.high:
            raise InvalidInput(f"{where}.critical", "low must be below high")
    _validate_plausible(test, where)
    delta = test.delta
    if delta is not None:
        if delta.absolute is None and delta.percent is None:
            raise InvalidInput(f"{where}.delta", "needs an absolute or a percent threshold")
        if any(threshold is not None and threshold <= 0 for threshold in (delta.absolute, delta.percent)):
            raise InvalidInput(f"{where}.delta", "thresholds must be positive")
        if delta.window_days < 0:
            raise InvalidInput(f"{where}.delta.window_days", "must not be negative")


def _validate_plausible(test: TestDefinition, where: str) -> None:
    """Every reference and critical limit lies within the plausible limits: a value on any of them
    must be enterable, and a limit outside them is a typing error in the catalogue."""
    limits = test.plausible_limits
    named = [(f"reference_ranges[{i}]", r.low, r.high) for i, r in enumerate(test.reference_ranges)]
    if test.critical is not None:
        named.append(("critical", test.critical.low, test.critical.high))
    for name, low, high in named:
        for bound in (low, high):
            if bound is not None and not limits.contains(bound):
                raise InvalidInput(
                    f"{where}.{name}",
                    f"{bound:g} lies outside the plausible limits [{limits.low:g}, {limits.high:g}]",
                )


def _validate_non_numeric(test: TestDefinition, where: str) -> None:
    for name, present in (
        ("decimals", test.decimals is not None),
        ("plausible", test.plausible is not None),
        ("reference_ranges", bool(test.reference_ranges)),
        ("critical", test.critical is not None),
        ("delta", test.delta is not None),
        ("calculated", test.calculated is not None),
    ):
        if present:
            raise InvalidInput(f"{where}.{name}", f"only numeric tests have {name.replace('_', ' ')}")
    if test.result_type == "text":
        if test.coded_values or test.abnormal_codes:
            raise InvalidInput(f"{where}.coded_values", "a text test has no coded values")
        return
    if not test.coded_values:
        raise InvalidInput(f"{where}.coded_values", "a coded test needs its list of values")
    if len(set(test.coded_values)) != len(test.coded_values):
        raise InvalidInput(f"{where}.coded_values", "values must be unique")
    for code in test.abnormal_codes:
        if code not in test.coded_values:
            raise InvalidInput(f"{where}.abnormal_codes", f"{code!r} is not one of the coded values")


def validate_catalog(tests: tuple[TestDefinition, ...], panels: tuple[Panel, ...]) -> None:
    """Cross-references: unique codes, panels and calculations pointing at real tests, restricted analytes."""
    by_code: dict[str, TestDefinition] = {}
    for test in tests:
        validate_test(test)
        if test.code in by_code:
            raise InvalidInput(f"tests.{test.code}.code", "duplicate test code")
        by_code[test.code] = test
    for test in tests:
        _validate_calculation(test, by_code)
    _validate_panels(panels, by_code)
    _validate_restricted(tests)


def _validate_calculation(test: TestDefinition, by_code: dict[str, TestDefinition]) -> None:
    calculation = test.calculated
    if calculation is None:
        return
    field = f"tests.{test.code}.calculated.inputs"
    arity = FORMULA_ARITY[calculation.formula]
    if len(calculation.inputs) != arity:
        raise InvalidInput(field, f"{calculation.formula} takes {arity} input(s)")
    for code in calculation.inputs:
        source = by_code.get(code)
        if source is None:
            raise InvalidInput(field, f"unknown test code {code!r}")
        if code == test.code or source.calculated is not None:
            raise InvalidInput(field, f"{code!r} must be a measured test, not a calculated one")
        if source.result_type != "numeric":
            raise InvalidInput(field, f"{code!r} is not a numeric test")


def _validate_panels(panels: tuple[Panel, ...], by_code: dict[str, TestDefinition]) -> None:
    seen: set[str] = set()
    for panel in panels:
        where = f"panels.{panel.code}"
        if not TEST_CODE.match(panel.code):
            raise InvalidInput(f"{where}.code", CODE_RULE)
        if panel.code in seen:
            raise InvalidInput(f"{where}.code", "duplicate panel code")
        seen.add(panel.code)
        if not panel.tests:
            raise InvalidInput(f"{where}.tests", "a panel needs at least one test")
        if len(set(panel.tests)) != len(panel.tests):
            raise InvalidInput(f"{where}.tests", "a test is listed twice")
        for code in panel.tests:
            if code not in by_code:
                raise InvalidInput(f"{where}.tests", f"unknown test code {code!r}")
        for act in panel.nabm:
            if not NABM_CODE.match(act.code):
                raise InvalidInput(f"{where}.nabm", "must list 4-digit NABM act codes")
            if act.b is not None and act.b <= 0:
                raise InvalidInput(f"{where}.nabm", "B coefficients must be positive")


def _validate_restricted(tests: tuple[TestDefinition, ...]) -> None:
    for category, loinc_codes in RESTRICTED_CATEGORIES.items():
        matching = [t for t in tests if t.loinc in loinc_codes]
        for test in matching:
            if not test.restricted:
                raise InvalidInput(f"tests.{test.code}.sensitivity", f"a {category} test must be restricted")
        if not matching:
            raise InvalidInput("tests", f"the catalogue has no restricted {category} test")
