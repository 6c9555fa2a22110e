"""The grammar of a numeric result and the test's plausible limits, without a database.

Replays the probe's inputs (``99999999999999999999999999`` stored as ``100000000000000004764729344.00``;
``1e308``, ``5_000``, Arabic-Indic digits and ``-0`` accepted): each is refused, saying which rule it
breaks and never echoing the value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from labvault.catalog import default_catalog
from labvault.catalog.model import PlausibleLimits, TestDefinition
from labvault.errors import InvalidInput
from labvault.workflow.result_values import MAX_DIGITS, interpret, parse_number, stored_number

CATALOG = default_catalog()
ON = dt.date(2026, 3, 2)
ADULT = 50 * 365

EMPTY = "is not a number: it is empty"
NOT_A_NUMBER = "is not a number (digits, at most one ',' or '.' and an optional sign)"
DIGITS = f"has more than {MAX_DIGITS} digits"
EXPONENT = "must not use an exponent (e or E): write the number out"
GROUPING = "must not group digits (no '_', space or apostrophe between them)"
SCRIPT = "must be written with the digits 0-9 (no other script's digits nor fractions)"
MINUS_ZERO = "is a zero with a minus sign: write 0"
NON_FINITE = "is not a finite number"
SEPARATORS = "has more than one decimal separator"
BARE = "needs a digit on each side of the decimal separator"


def definition(code: str) -> TestDefinition:
    return CATALOG.test(code)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("99999999999999999999999999", DIGITS),
        ("1234567890123456", DIGITS),
        ("0,0000000000000001", DIGITS),
        ("1e308", EXPONENT),
        ("1E3", EXPONENT),
        ("4.2e-1", EXPONENT),
        ("5_000", GROUPING),
        ("1 000", GROUPING),
        ("1'000", GROUPING),
        ("1\u202f000", GROUPING),
        ("\u0661\u0664\u0660", SCRIPT),  # Arabic-Indic 140
        ("\u06f5", SCRIPT),  # Extended Arabic-Indic 5
        ("\u096b", SCRIPT),  # Devanagari 5
        ("\uff15", SCRIPT),  # fullwidth 5
        ("4\u00b2", SCRIPT),  # superscript two
        ("\u00bd", SCRIPT),  # one half
        ("-0", MINUS_ZERO),
        ("-0,00", MINUS_ZERO),
        ("-000.0", MINUS_ZERO),
        ("nan", NON_FINITE),
        ("-Infinity", NON_FINITE),
        ("inf", NON_FINITE),
        ("1.2.3", SEPARATORS),
        ("1,2.3", SEPARATORS),
        (".5", BARE),
        ("5,", BARE),
        ("-.5", BARE),
        ("", EMPTY),
        ("   ", EMPTY),
        ("abc", NOT_A_NUMBER),
        ("0x1A", NOT_A_NUMBER),
        ("+-3", NOT_A_NUMBER),
        ("--3", NOT_A_NUMBER),
        ("3-", NOT_A_NUMBER),
        ("1/2", NOT_A_NUMBER),
    ],
)
def test_a_value_outside_the_grammar_is_refused_saying_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_number("entries[2].value", raw)
    assert (caught.value.field, caught.value.reason) == ("entries[2].value", reason)
    assert not raw.strip() or raw.strip() not in caught.value.reason, "the value is never echoed"


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("5,2", 5.2),
        ("-1.5", -1.5),
        ("+3", 3.0),
        ("140", 140.0),
        (" 4,5 ", 4.5),
        ("+0", 0.0),
        ("0", 0.0),
        ("007", 7.0),
        ("0,000001", 1e-6),
        ("123456789012345", 123456789012345.0),
        ("-99999999,9999999", -99999999.9999999),
    ],
)
def test_plain_decimals_are_read(raw: str, number: float) -> None:
    assert parse_number("v", raw) == number


def test_every_accepted_value_survives_its_float() -> None:
    """Fifteen digits at most: what was typed is what is stored, digit for digit."""
    for text in ("999999999999999", "99999999.9999999", "0.12345678901234", "123456.789012345"):
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert f"{parse_number('v', text):.{decimals}f}" == text


def test_the_probe_value_is_refused_not_mangled() -> None:
    with pytest.raises(InvalidInput) as caught:
        interpret("entries[0].value", definition("K"), "99999999999999999999999999", None, ADULT, None, ON)
    assert caught.value.reason == DIGITS


# --- plausible limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "raw", "reason"),
    [
        ("K", "16", "is above the plausible limit of K (Potassium): 15 mmol/L"),
        ("K", "0,4", "is below the plausible limit of K (Potassium): 0.5 mmol/L"),
        ("K", "-1.5", "is below the plausible limit of K (Potassium): 0.5 mmol/L"),
        ("K", "0.44", "is below the plausible limit of K (Potassium): 0.5 mmol/L"),  # rounds to 0.4
        ("GLU", "150.01", "is above the plausible limit of GLU (Fasting glucose): 150 mmol/L"),
        ("NA", "79", "is below the plausible limit of NA (Sodium): 80 mmol/L"),
        ("PLT", "5001", "is above the plausible limit of PLT (Platelets): 5000 G/L"),
        ("HGB", "140", "is above the plausible limit of HGB (Haemoglobin): 30 g/dL"),  # g/L typed as g/dL
        ("CRP", "999999999999999", "is above the plausible limit of CRP (C-reactive protein): 1000 mg/L"),
    ],
)
def test_an_implausible_value_is_refused_naming_the_test_and_the_limit(
    code: str, raw: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        interpret("entries[0].value", definition(code), raw, "F", ADULT, None, ON)
    assert (caught.value.field, caught.value.reason) == ("entries[0].value", reason)


@pytest.mark.parametrize(
    ("code", "raw", "shown"),
    [
        ("K", "15", "15.0"),
        ("K", "0.5", "0.5"),
        ("K", "0.46", "0.5"),
        ("NA", "80", "80"),
        ("GLU", "0", "0.00"),
    ],
)
def test_the_plausible_limits_are_inclusive_and_read_after_rounding(code: str, raw: str, shown: str) -> None:
    assert interpret("v", definition(code), raw, "M", ADULT, None, ON).value == shown


def test_negative_values_where_the_limits_allow_them() -> None:
    base_excess = dataclasses.replace(definition("CRP"), code="BE", plausible=PlausibleLimits(-30.0, 30.0))
    assert interpret("v", base_excess, "-1.5", None, ADULT, None, ON).value == "-1.5"
    assert interpret("v", base_excess, "-0.04", None, ADULT, None, ON).value == "0.0"  # never "-0.0"
    with pytest.raises(InvalidInput) as caught:
        interpret("v", base_excess, "-30.1", None, ADULT, None, ON)
    assert caught.value.reason == "is below the plausible limit of BE (C-reactive protein): -30 mg/L"


def test_a_test_without_limits_gets_the_default() -> None:
    """A lab's catalogue imported before the limits existed: no negative value, nothing beyond 10^9."""
    bare = dataclasses.replace(definition("CRP"), plausible=None)
    assert interpret("v", bare, "999999999", None, ADULT, None, ON).value == "999999999.0"
    for raw, reason in (
        ("-1", "is below the plausible limit of CRP (C-reactive protein): 0 mg/L"),
        ("1000000001", "is above the plausible limit of CRP (C-reactive protein): 1000000000 mg/L"),
    ):
        with pytest.raises(InvalidInput) as caught:
            interpret("v", bare, raw, None, ADULT, None, ON)
        assert caught.value.reason == reason


def test_stored_values_are_read_leniently() -> None:
    """Values stored before the grammar still chart; what is not a finite number is left out."""
    assert stored_number("100000000000000004764729344.00") == 1.0000000000000000476e26
    assert stored_number("5,4") == 5.4
    for text in ("inf", "nan", "non dosable", "", None, "1e999"):
        assert stored_number(text) is None


def test_a_negative_value_never_rounds_into_a_plausible_zero() -> None:
    """-0.4 platelets is refused (it was stored as 0 when only the rounded value was checked); the
    limits otherwise read the value as stored: rounded past the high limit, refused."""
    platelets = dataclasses.replace(
        definition("CRP"), code="PLT", decimals=0, plausible=PlausibleLimits(0.0, 5000.0)
    )
    for raw in ("-0.4", "-0,0004"):
        with pytest.raises(InvalidInput) as caught:
            interpret("v", platelets, raw, None, ADULT, None, ON)
        assert caught.value.reason.startswith("is below the plausible limit of PLT")
    with pytest.raises(InvalidInput, match="above the plausible limit"):
        interpret("v", platelets, "5000.6", None, ADULT, None, ON)
    assert interpret("v", platelets, "5000.4", None, ADULT, None, ON).value == "5000"
