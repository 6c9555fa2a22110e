"""Reading a typed-in value against its test, without a database: parsing, rounding, flags, the range
used, the previous result and the delta, and how the range is printed."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from labvault.catalog import default_catalog
from labvault.catalog.model import TestDefinition
from labvault.errors import InvalidInput
from labvault.workflow.result_values import (
    CRITICAL_FLAGS,
    MAX_COMMENT,
    MAX_TEXT_RESULT,
    Previous,
    clean_comment,
    format_number,
    interpret,
    parse_number,
    reference_text,
)

CATALOG = default_catalog()
ON = dt.date(2026, 3, 2)
ADULT = 50 * 365
CHILD_8 = 8 * 365


def definition(code: str) -> TestDefinition:
    return CATALOG.test(code)


def previous(value: str, days_before: int = 1) -> Previous:
    return Previous(value, ON - dt.timedelta(days=days_before), "a1b2")


def test_numeric_value_is_parsed_rounded_and_flagged() -> None:
    result = interpret("entries[0].value", definition("HGB"), " 13,46 ", "F", ADULT, None, ON)
    assert (result.value, result.flag) == ("13.5", "N")
    assert result.interpretation == {"unit": "g/dL", "range": [12.0, 16.0], "previous": None, "delta": None}
    assert interpret("v", definition("GLU"), "5", None, ADULT, None, ON).value == "5.00"
    assert interpret("v", definition("PLT"), "149.6", None, ADULT, None, ON).value == "150"
    assert interpret("v", definition("K"), "+1", None, ADULT, None, ON).value == "1.0"


def test_flags_are_computed_on_the_rounded_value() -> None:
    # 11.96 rounds to 12.0, the female lower limit, which is inclusive: normal.
    assert interpret("v", definition("HGB"), "11.96", "F", ADULT, None, ON).flag == "N"
    assert interpret("v", definition("HGB"), "11.94", "F", ADULT, None, ON).flag == "L"


@pytest.mark.parametrize(
    ("code", "raw", "sex", "flag"),
    [
        ("HGB", "12.5", "M", "L"),
        ("HGB", "12.5", "F", "N"),
        ("HGB", "17.0", "F", "H"),
        ("HGB", "17.0", "M", "N"),
        ("HGB", "6.9", "F", "LL"),
        ("HGB", "20.1", "M", "HH"),
        ("K", "2.7", None, "LL"),
        ("NA", "161", None, "HH"),
        ("HGB", "12.5", None, "N"),  # unknown sex: no sex-specific adult range
    ],
)
def test_flags_by_sex(code: str, raw: str, sex: str | None, flag: str) -> None:
    assert interpret("v", definition(code), raw, sex, ADULT, None, ON).flag == flag  # type: ignore[arg-type]


def test_range_follows_sex_and_age() -> None:
    assert interpret("v", definition("HGB"), "14", "M", ADULT, None, ON).interpretation["range"] == [
        13.0,
        17.5,
    ]
    assert interpret("v", definition("HGB"), "14", "F", ADULT, None, ON).interpretation["range"] == [
        12.0,
        16.0,
    ]
    child = interpret("v", definition("HGB"), "14", "M", CHILD_8, None, ON)
    assert child.interpretation["range"] == [11.5, 15.5]
    crea = interpret("v", definition("CREA"), "150", "M", CHILD_8, None, ON)
    assert crea.interpretation["range"] is None and crea.flag == "N"
    assert interpret("v", definition("HGB"), "14", None, ADULT, None, ON).interpretation["range"] is None


@pytest.mark.parametrize("raw", ["", "  ", "abc", "1.2.3", "12 5", "nan", "-inf", "1e999", "13,4,5", "½"])
def test_not_a_number_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        interpret("entries[3].value", definition("HGB"), raw, "F", ADULT, None, ON)
    assert caught.value.field == "entries[3].value"
    assert raw.strip() not in caught.value.reason or not raw.strip(), "the value is never echoed"


def test_delta_against_the_previous_result() -> None:
    result = interpret("v", definition("HGB"), "10.0", "F", ADULT, previous("14.0", 1), ON)
    assert result.interpretation["previous"] == {"value": "14.0", "date": "2026-03-01", "result_id": "a1b2"}
    assert result.interpretation["delta"] == {"change": -4.0, "percent": 28.6, "days": 1}
    small = interpret("v", definition("HGB"), "13.0", "F", ADULT, previous("14.0", 1), ON)
    assert small.interpretation["previous"]["value"] == "14.0" and small.interpretation["delta"] is None
    old = interpret("v", definition("HGB"), "10.0", "F", ADULT, previous("14.0", 5), ON)
    assert old.interpretation["delta"] is None, "outside the 3-day window of the HGB rule"
    later = interpret("v", definition("HGB"), "10.0", "F", ADULT, previous("14.0", -2), ON)
    assert later.interpretation["delta"] == {"change": -4.0, "percent": 28.6, "days": 0}


def test_percent_delta_rule() -> None:
    big = interpret("v", definition("PLT"), "140", None, ADULT, previous("300", 2), ON)
    assert big.interpretation["delta"] == {"change": -160.0, "percent": 53.3, "days": 2}
    assert (
        interpret("v", definition("PLT"), "200", None, ADULT, previous("300", 2), ON).interpretation["delta"]
        is None
    )
    zero = interpret("v", definition("PLT"), "200", None, ADULT, previous("0", 1), ON)
    assert zero.interpretation["delta"] is None, "a zero baseline supports no percent rule"


def test_no_delta_without_rule_or_numeric_previous() -> None:
    crp = interpret("v", definition("CRP"), "150", None, ADULT, previous("2.0", 1), ON)
    assert crp.interpretation["previous"]["value"] == "2.0" and crp.interpretation["delta"] is None
    odd = interpret("v", definition("HGB"), "10.0", "F", ADULT, previous("non dosable", 1), ON)
    assert odd.interpretation["previous"]["value"] == "non dosable" and odd.interpretation["delta"] is None
    comma = interpret("v", definition("HGB"), "10.0", "F", ADULT, previous("14,0", 1), ON)
    assert comma.interpretation["delta"] is not None


def test_coded_values_are_canonical_and_flagged() -> None:
    hiv = interpret("v", definition("HIV"), " POSITIVE ", "M", ADULT, previous("negative", 30), ON)
    assert (hiv.value, hiv.flag) == ("positive", "A")
    assert hiv.interpretation["previous"]["value"] == "negative" and hiv.interpretation["delta"] is None
    assert hiv.interpretation["unit"] is None and hiv.interpretation["range"] is None
    assert interpret("v", definition("HIV"), "negative", "M", ADULT, None, ON).flag == "N"
    assert interpret("v", definition("HCV"), "Equivocal", "M", ADULT, None, ON).flag == "A"
    assert interpret("v", definition("ABO"), "ab", None, ADULT, None, ON).value == "AB"
    with pytest.raises(InvalidInput) as caught:
        interpret("entries[1].value", definition("HIV"), "positif", "M", ADULT, None, ON)
    assert caught.value.field == "entries[1].value" and "negative, positive, equivocal" in caught.value.reason


def test_text_results() -> None:
    text_test = dataclasses.replace(
        definition("CRP"), result_type="text", decimals=None, reference_ranges=(), critical=None, delta=None
    )
    result = interpret("v", text_test, "  Absence de   cristaux\n", None, ADULT, None, ON)
    assert (result.value, result.flag) == ("Absence de cristaux", "N")
    for raw in ("   ", "x" * (MAX_TEXT_RESULT + 1)):
        with pytest.raises(InvalidInput) as caught:
            interpret("entries[0].value", text_test, raw, None, ADULT, None, ON)
        assert caught.value.field == "entries[0].value"


def test_numbers_without_decimals_keep_their_precision() -> None:
    free = dataclasses.replace(definition("CRP"), decimals=None)
    assert interpret("v", free, "3,25", None, ADULT, None, ON).value == "3.25"
    assert format_number(free, 1200.0) == "1200"
    assert format_number(definition("HGB"), 13.0) == "13.0"
    assert parse_number("x", " 4,5 ") == 4.5


def test_reference_text() -> None:
    hgb, egfr, crp = definition("HGB"), definition("EGFR"), definition("CRP")
    assert reference_text({"range": [12.0, 16.0]}, hgb) == "12.0 – 16.0"
    assert reference_text({"range": [None, 5.0]}, crp) == "< 5.0"
    assert reference_text({"range": [60.0, None]}, egfr) == "> 60"
    assert reference_text({"range": [3.9, 6.1]}, definition("GLU")) == "3.90 – 6.10"
    assert reference_text({"range": [0.4, 4.0]}, None) == "0.4 – 4"
    assert reference_text({"range": None}, hgb) is None
    assert reference_text({}, hgb) is None
    assert reference_text({"range": [None, None]}, hgb) is None
    computed = interpret("v", definition("TSH"), "2", None, ADULT, None, ON).interpretation
    assert reference_text(computed, definition("TSH")) == "0.40 – 4.00"


def test_comments_and_critical_flags() -> None:
    assert clean_comment("c", "  hémolyse \n légère ") == "hémolyse légère"
    assert clean_comment("c", "   ") is None and clean_comment("c", None) is None
    with pytest.raises(InvalidInput) as caught:
        clean_comment("entries[2].comment", "x" * (MAX_COMMENT + 1))
    assert caught.value.field == "entries[2].comment"
    assert frozenset({"LL", "HH"}) == CRITICAL_FLAGS
