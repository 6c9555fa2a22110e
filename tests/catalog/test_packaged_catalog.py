"""The catalogue shipped with labvault: complete, well coded, and honest about what was checked."""

from __future__ import annotations

import re

from labvault.catalog import default_catalog, loinc_check_digit_ok
from labvault.catalog.model import SECTIONS
from labvault.catalog.validation import RESTRICTED_CATEGORIES

CATALOG = default_catalog()


def test_loads_with_at_least_sixty_tests() -> None:
    assert CATALOG.version == "2026.2"  # 2026.2: plausible limits (issue 10)
    assert len(CATALOG.tests) >= 60
    assert CATALOG.notes  # ranges are examples: the file says so


def test_every_loinc_code_is_well_formed_with_a_valid_check_digit() -> None:
    codes = [t.loinc for t in CATALOG.tests if t.loinc is not None]
    assert len(codes) == len(CATALOG.tests)
    assert all(loinc_check_digit_ok(code) for code in codes)
    assert len(set(codes)) == len(codes)


def test_nabm_codes_are_four_digits_with_positive_coefficients() -> None:
    for test in CATALOG.tests:
        if test.nabm is None:
            assert test.nabm_b is None and test.note, test.code  # the note says how it is billed
        else:
            assert re.fullmatch(r"[0-9]{4}", test.nabm), test.code
            assert test.nabm_b is not None and test.nabm_b > 0, test.code


def test_every_restricted_category_is_present_and_restricted() -> None:
    for category, loinc_codes in RESTRICTED_CATEGORIES.items():
        matching = [t for t in CATALOG.tests if t.loinc in loinc_codes]
        assert matching, category
        assert all(t.restricted for t in matching), category
    assert {"HIV", "HBSAG", "HBSAB", "HBCAB", "HCV", "SYPH", "HCG"} == CATALOG.restricted_codes


def test_panels_reference_existing_tests() -> None:
    expected = {"NFS", "EAL", "BHEP", "IONO", "THYR", "COAG", "PRETRANSF", "HEPSERO"}
    assert expected <= {p.code for p in CATALOG.panels}
    for panel in CATALOG.panels:
        assert [t.code for t in CATALOG.panel_tests(panel.code)] == list(panel.tests)
    assert set(CATALOG.panel("PRETRANSF").tests) == {"ABO", "RHD", "RAI"}


def test_sections_result_types_and_calculations_are_consistent() -> None:
    for test in CATALOG.tests:
        assert test.section in SECTIONS
        if test.result_type == "numeric":
            assert test.unit and test.decimals is not None and test.reference_ranges, test.code
        if test.result_type == "coded":
            assert test.coded_values and set(test.abnormal_codes) <= set(test.coded_values), test.code
    egfr, ldl = CATALOG.test("EGFR"), CATALOG.test("LDLC")
    assert egfr.calculated is not None and egfr.calculated.inputs == ("CREA",)
    assert ldl.calculated is not None and ldl.calculated.inputs == ("CHOL", "HDL", "TG")


def test_codes_taken_from_official_examples() -> None:
    """Spot checks against the FHIR R4 examples and the French EDS core data set."""
    expected = {"HGB": "718-7", "CREA": "14682-9", "GLU": "14749-6", "NA": "2951-2", "EGFR": "98979-8"}
    assert {code: CATALOG.test(code).loinc for code in expected} == expected
    assert CATALOG.test("GLU").nabm == "0552"
    assert CATALOG.test("TSH").nabm == "1208"
