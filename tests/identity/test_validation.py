"""Tests for labvault.identity.validation; every "valid" number is computed, none is a real person's."""

from __future__ import annotations

import datetime

import pytest
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir

from labvault.errors import InvalidInput
from labvault.identity.validation import (
    INS_OID_NIA,
    INS_OID_NIR,
    INS_OID_TEST_NIA,
    INS_OID_TEST_NIR,
    INS_OIDS,
    INS_STATUSES,
    nir_consistency_issues,
    normalize_name_for_index,
    normalize_nir,
    validate_email,
    validate_finess,
    validate_ins,
    validate_ins_status,
    validate_insee_commune,
    validate_phone,
    validate_rpps,
    validate_sex,
)


def with_nir_key(body: str) -> str:
    """Append the NIR control key computed by stdnum (2A→19, 2B→18) to a 13-character body."""
    assert len(body) == 13
    return body + stdnum_nir.calc_check_digits(body + "00")


def with_luhn_key(body: str) -> str:
    return body + luhn.calc_check_digit(body)


def wrong_key(number: str, width: int) -> str:
    """Return ``number`` with its last ``width`` digits replaced by a different value."""
    key = int(number[-width:])
    return number[:-width] + f"{(key + 1) % 10**width:0{width}d}"


MALE_PARIS = with_nir_key("1850575056123")  # M, born May 1985 in 75056
FEMALE_LYON = with_nir_key("2920169123456")  # F, born January 1992 in 69123
FEMALE_2A = with_nir_key("280032A004555")  # F, born March 1980 in 2A004
MALE_2B = with_nir_key("199122B033017")  # M, born December 1999 in 2B033
NIA = with_nir_key("7850599350001")  # temporary number, born abroad (99350)


def spaced(nir: str) -> str:
    return " ".join((nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]))


# --------------------------------------------------------------------------- normalize_nir


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (MALE_PARIS, MALE_PARIS),
        (spaced(MALE_PARIS), MALE_PARIS),
        ("  " + spaced(FEMALE_LYON) + "\t", FEMALE_LYON),
        (".".join(spaced(FEMALE_LYON).split()), FEMALE_LYON),
        ("-".join(spaced(FEMALE_LYON).split()), FEMALE_LYON),
        (FEMALE_2A.lower(), FEMALE_2A),
        (spaced(MALE_2B).lower(), MALE_2B),
        (spaced(NIA), NIA),
    ],
)
def test_normalize_nir_accepts_and_compacts(raw: str, expected: str) -> None:
    assert normalize_nir(raw) == expected
    assert stdnum_nir.is_valid(expected)


def test_corsican_key_uses_19_and_18_substitution() -> None:
    assert FEMALE_2A[13:] == f"{97 - int('2800319004555') % 97:02d}"
    assert MALE_2B[13:] == f"{97 - int('1991218033017') % 97:02d}"


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        (wrong_key(MALE_PARIS, 2), "control key does not match"),
        (wrong_key(FEMALE_2A, 2), "control key does not match"),
        (FEMALE_2A[:5] + "2B" + FEMALE_2A[7:], "control key does not match"),
        (MALE_PARIS[:-1], "15 characters"),
        (MALE_PARIS + "0", "15 characters"),
        ("", "empty"),
        ("  . - ", "empty"),
        (MALE_PARIS[:2] + "A" + MALE_PARIS[3:], "2A or 2B at positions 6-7"),
        (MALE_PARIS[:5] + "2C" + MALE_PARIS[7:], "2A or 2B at positions 6-7"),
        (MALE_PARIS[:5] + "A2" + MALE_PARIS[7:], "2A or 2B at positions 6-7"),
        (MALE_PARIS[:9] + "B" + MALE_PARIS[10:], "2A or 2B at positions 6-7"),
        (MALE_PARIS[:14] + "/", "may only contain"),
        (MALE_PARIS[:3] + "é" + MALE_PARIS[4:], "may only contain"),
        (with_nir_key("5850575056123"), "first digit"),
        (with_nir_key("0850575056123"), "first digit"),
    ],
)
def test_normalize_nir_refuses_with_distinct_reason(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        normalize_nir(raw)
    assert excinfo.value.field == "nir"
    assert reason_part in excinfo.value.reason
    if len(raw) > 3:
        assert raw not in str(excinfo.value)


def test_normalize_nir_reports_caller_field() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        normalize_nir(wrong_key(MALE_PARIS, 2), field="patient.nir")
    assert excinfo.value.field == "patient.nir"


def test_invalid_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="control key"):
        normalize_nir(wrong_key(MALE_PARIS, 2))


# --------------------------------------------------------------------------- consistency


@pytest.mark.parametrize(
    ("nir", "sex", "birth_date"),
    [
        (MALE_PARIS, "M", datetime.date(1985, 5, 17)),
        (MALE_PARIS, "m", datetime.date(1985, 5, 1)),
        (MALE_PARIS, "U", datetime.date(1985, 5, 1)),
        (FEMALE_2A, "F", datetime.date(1980, 3, 2)),
        (NIA, "F", datetime.date(1985, 5, 2)),  # 7: no sex meaning
        (with_nir_key("3850575056123"), "F", datetime.date(1985, 5, 2)),
        (with_nir_key("1853075056123"), "M", datetime.date(1985, 5, 2)),  # month 30: placeholder
        (with_nir_key("1855575056123"), "M", datetime.date(1985, 7, 2)),  # month 55: placeholder
        (with_nir_key("1852075056123"), "M", datetime.date(1985, 7, 2)),  # month 20: placeholder
    ],
)
def test_consistent_nir_has_no_issue(nir: str, sex: str, birth_date: datetime.date) -> None:
    assert nir_consistency_issues(nir, sex, birth_date) == []


@pytest.mark.parametrize(
    ("nir", "sex", "birth_date", "expected"),
    [
        (MALE_PARIS, "F", datetime.date(1985, 5, 17), ["NIR sex digit does not match sex"]),
        (FEMALE_LYON, "M", datetime.date(1992, 1, 1), ["NIR sex digit does not match sex"]),
        (MALE_PARIS, "M", datetime.date(1986, 5, 17), ["NIR year of birth does not match birth date"]),
        (MALE_PARIS, "M", datetime.date(1885, 5, 17), []),  # only the last two digits are encoded
        (MALE_PARIS, "M", datetime.date(1985, 6, 17), ["NIR month of birth does not match birth date"]),
        (
            MALE_PARIS,
            "F",
            datetime.date(1990, 1, 1),
            [
                "NIR sex digit does not match sex",
                "NIR year of birth does not match birth date",
                "NIR month of birth does not match birth date",
            ],
        ),
        (
            with_nir_key("1851575056123"),
            "M",
            datetime.date(1985, 5, 1),
            ["NIR month digits are neither a calendar month nor a placeholder value"],
        ),
        (
            with_nir_key("1850075056123"),
            "M",
            datetime.date(1985, 5, 1),
            ["NIR month digits are neither a calendar month nor a placeholder value"],
        ),
    ],
)
def test_consistency_issues(nir: str, sex: str, birth_date: datetime.date, expected: list[str]) -> None:
    assert nir_consistency_issues(nir, sex, birth_date) == expected


def test_consistency_rejects_invalid_inputs() -> None:
    with pytest.raises(InvalidInput, match="control key"):
        nir_consistency_issues(wrong_key(MALE_PARIS, 2), "M", datetime.date(1985, 5, 1))
    with pytest.raises(InvalidInput) as excinfo:
        nir_consistency_issues(MALE_PARIS, "X", datetime.date(1985, 5, 1))
    assert excinfo.value.field == "sex"


# --------------------------------------------------------------------------- FINESS / RPPS

FINESS = with_luhn_key("75000001")
RPPS = with_luhn_key("1000123456")


def test_literals_are_luhn_valid() -> None:
    assert luhn.is_valid(FINESS) and len(FINESS) == 9
    assert luhn.is_valid(RPPS) and len(RPPS) == 11


@pytest.mark.parametrize("raw", [FINESS, f" {FINESS[:3]} {FINESS[3:6]} {FINESS[6:]} "])
def test_finess_valid(raw: str) -> None:
    assert validate_finess(raw) == FINESS


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        (wrong_key(FINESS, 1), "control key does not match"),
        (FINESS[:-1], "exactly 9 digits"),
        (FINESS + "0", "exactly 9 digits"),
        (FINESS[:4] + "X" + FINESS[5:], "only digits"),
        ("", "empty"),
        ("2A0000000", "Corsican"),
        ("2b1234567", "Corsican"),
    ],
)
def test_finess_invalid(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_finess(raw)
    assert excinfo.value.field == "finess"
    assert reason_part in excinfo.value.reason


@pytest.mark.parametrize("raw", [RPPS, f"{RPPS[:5]} {RPPS[5:]}"])
def test_rpps_valid(raw: str) -> None:
    assert validate_rpps(raw) == RPPS


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        (wrong_key(RPPS, 1), "control key does not match"),
        (RPPS[:-1], "exactly 11 digits"),
        (RPPS + "7", "exactly 11 digits"),
        (RPPS[:3] + "-" + RPPS[4:], "only digits"),
        ("", "empty"),
    ],
)
def test_rpps_invalid(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_rpps(raw)
    assert excinfo.value.field == "rpps"
    assert reason_part in excinfo.value.reason


# --------------------------------------------------------------------------- INSEE commune


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("75056", "75056"), ("2A004", "2A004"), ("2b033", "2B033"), (" 97411 ", "97411"), ("99350", "99350")],
)
def test_insee_commune_valid(raw: str, expected: str) -> None:
    assert validate_insee_commune(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("7505", "5 characters"),
        ("750560", "5 characters"),
        ("2C004", "2A/2B"),
        ("A2004", "2A/2B"),
        ("", "empty"),
    ],
)
def test_insee_commune_invalid(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_insee_commune(raw)
    assert excinfo.value.field == "insee_commune"
    assert reason_part in excinfo.value.reason


# --------------------------------------------------------------------------- INS


def test_ins_oid_constants() -> None:
    assert {INS_OID_NIR, INS_OID_NIA, INS_OID_TEST_NIR, INS_OID_TEST_NIA} == INS_OIDS
    assert len(INS_OIDS) == 4


@pytest.mark.parametrize("oid", sorted(INS_OIDS))
def test_ins_valid(oid: str) -> None:
    assert validate_ins(spaced(FEMALE_2A).lower(), oid) == FEMALE_2A


@pytest.mark.parametrize(
    "oid", ["", "1.2.250.1.213.1.4.2", "1.2.250.1.213.1.4.12", "urn:oid:1.2.250.1.213.1.4.8"]
)
def test_ins_unknown_oid(oid: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_ins(MALE_PARIS, oid)
    assert excinfo.value.field == "ins_oid"


def test_ins_invalid_value_reports_ins_field() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_ins(wrong_key(MALE_PARIS, 2), INS_OID_NIR)
    assert excinfo.value.field == "ins"
    assert excinfo.value.reason == "control key does not match"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *((status, status) for status in INS_STATUSES),
        ("Qualifiée", "qualifiee"),
        (" RÉCUPÉRÉE ", "recuperee"),
    ],
)
def test_ins_status_valid(raw: str, expected: str) -> None:
    assert validate_ins_status(raw) == expected


@pytest.mark.parametrize("raw", ["", "qualified", "valide", "temporaire"])
def test_ins_status_invalid(raw: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_ins_status(raw)
    assert excinfo.value.field == "ins_status"


# --------------------------------------------------------------------------- names / sex


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Lefèvre-d'Anjou ", "LEFEVRE D ANJOU"),
        ("Lefèvre - d’Anjou", "LEFEVRE D ANJOU"),
        ("lefevre d anjou", "LEFEVRE D ANJOU"),
        ("Jean-Pierre", "JEAN PIERRE"),
        ("Jean\u2010Pierre", "JEAN PIERRE"),
        ("Marie   Thérèse\tÉlodie", "MARIE THERESE ELODIE"),
        ("Nguyễn", "NGUYEN"),
        ("Lœuillet", "LOEUILLET"),
        ("Çağlar", "CAGLAR"),
        ("N'Diaye", "N DIAYE"),
    ],
)
def test_normalize_name_for_index(raw: str, expected: str) -> None:
    assert normalize_name_for_index(raw) == expected
    assert normalize_name_for_index(expected) == expected  # idempotent


@pytest.mark.parametrize("raw", ["", "   ", "-'-", " ’ "])
def test_normalize_name_empty(raw: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        normalize_name_for_index(raw)
    assert (excinfo.value.field, excinfo.value.reason) == ("name", "empty")


@pytest.mark.parametrize(("raw", "expected"), [("M", "M"), ("f", "F"), (" u ", "U")])
def test_validate_sex(raw: str, expected: str) -> None:
    assert validate_sex(raw) == expected


@pytest.mark.parametrize("raw", ["", "X", "male", "1"])
def test_validate_sex_invalid(raw: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_sex(raw)
    assert excinfo.value.field == "sex"


# --------------------------------------------------------------------------- contact


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("06 39 98 12 34", "0639981234"),
        ("01.99.00.12.34", "0199001234"),
        ("+33 6 39 98 12 34", "+33639981234"),
        ("123456", "123456"),
    ],
)
def test_validate_phone(raw: str, expected: str) -> None:
    assert validate_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("12345", "between 6 and 20"),
        ("+" + "1" * 21, "between 6 and 20"),
        ("06-39-98-12-34", "may only contain"),
        ("06 39 98 12 34 ext 5", "may only contain"),
        ("06 39 +98 12 34", "may only contain"),
        ("", "empty"),
    ],
)
def test_validate_phone_invalid(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_phone(raw)
    assert excinfo.value.field == "phone"
    assert reason_part in excinfo.value.reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jeanne.Martin@Example.ORG", "Jeanne.Martin@example.org"),
        (" a+tag@sub.example.com ", "a+tag@sub.example.com"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
    ],
)
def test_validate_email(raw: str, expected: str) -> None:
    assert validate_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("", "empty"),
        ("no-at-sign.example.org", "exactly one @"),
        ("a@b@example.org", "exactly one @"),
        ("@example.org", "before @"),
        ("a..b@example.org", "before @"),
        (".a@example.org", "before @"),
        ("a b@example.org", "before @"),
        ("a@localhost", "after @"),
        ("a@-example.org", "after @"),
        ("a@example..org", "after @"),
        ("a@example.123", "after @"),
        ("a@exa_mple.org", "after @"),
        ("a" * 65 + "@example.org", "before @"),
        ("a@" + "b" * 250 + ".org", "254"),
    ],
)
def test_validate_email_invalid(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_email(raw)
    assert excinfo.value.field == "email"
    assert reason_part in excinfo.value.reason
