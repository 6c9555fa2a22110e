"""LOINC mod-10 check digit, on codes published in the official FHIR R4 examples."""

from __future__ import annotations

import pytest

from labvault.catalog import loinc_check_digit_ok


@pytest.mark.parametrize(
    "code",
    ["2345-7", "718-7", "14682-9", "2951-2", "58410-2", "4544-3", "98979-8", "56888-1", "6690-2"],
)
def test_known_codes_pass(code: str) -> None:
    assert loinc_check_digit_ok(code)


@pytest.mark.parametrize("code", ["2345-8", "718-1", "14682-0", "8039-1"])
def test_wrong_check_digit_fails(code: str) -> None:
    assert not loinc_check_digit_ok(code)


@pytest.mark.parametrize(
    "code", ["", "2345", "2345-", "-7", "2345-77", "02345-7", "12345678-1", "2345 7", "LP6141-8"]
)
def test_malformed_codes_fail(code: str) -> None:
    assert not loinc_check_digit_ok(code)
