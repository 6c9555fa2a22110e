"""Tests for labvault.identity.synthetic: generated identities must pass labvault's own validators."""

from __future__ import annotations

import dataclasses
import datetime
import random

import pytest
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir

from labvault.identity.synthetic import (
    SyntheticPatient,
    generate_finess,
    generate_nir,
    generate_rpps,
    synthetic_patients,
)
from labvault.identity.validation import (
    INS_OID_TEST_NIR,
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
)

COUNT = 1_000


@pytest.fixture(scope="module")
def patients() -> list[SyntheticPatient]:
    return list(synthetic_patients(COUNT, seed=1234))


@pytest.mark.parametrize(
    ("sex", "birth_date", "department", "commune"),
    [
        ("M", datetime.date(1985, 5, 17), "75", "056"),
        ("F", datetime.date(2001, 12, 1), "2A", "004"),
        ("M", datetime.date(1999, 1, 31), "2B", "033"),
        ("F", datetime.date(1930, 1, 1), "974", "11"),
        ("M", datetime.date(2025, 12, 31), "99", "350"),
    ],
)
def test_generate_nir_is_valid_and_encodes_inputs(
    sex: str, birth_date: datetime.date, department: str, commune: str
) -> None:
    rng = random.Random(7)
    for _ in range(200):
        nir = generate_nir(rng, sex, birth_date, department, commune)
        assert normalize_nir(nir) == nir
        assert stdnum_nir.is_valid(nir)
        assert nir[0] == {"M": "1", "F": "2"}[sex]
        assert nir[5:10] == department + commune
        assert nir_consistency_issues(nir, sex, birth_date) == []


@pytest.mark.parametrize(
    ("sex", "department", "commune"),
    [("U", "75", "056"), ("M", "75", "56"), ("F", "974", "110")],
)
def test_generate_nir_refuses_bad_arguments(sex: str, department: str, commune: str) -> None:
    with pytest.raises(ValueError, match=r"sex|INSEE"):
        generate_nir(random.Random(0), sex, datetime.date(1990, 1, 1), department, commune)


def test_generate_finess_and_rpps_are_valid() -> None:
    rng = random.Random(99)
    for _ in range(1_000):
        finess = generate_finess(rng)
        rpps = generate_rpps(rng)
        assert validate_finess(finess) == finess
        assert validate_rpps(rpps) == rpps
        assert luhn.is_valid(finess) and len(finess) == 9
        assert luhn.is_valid(rpps) and len(rpps) == 11 and rpps.startswith("10")


def test_patients_pass_validators(patients: list[SyntheticPatient]) -> None:
    assert len(patients) == COUNT
    for p in patients:
        assert normalize_nir(p.nir) == p.nir
        assert nir_consistency_issues(p.nir, p.sex, p.birth_date) == []
        assert p.nir[5:10] == p.birthplace_insee
        assert validate_insee_commune(p.birthplace_insee) == p.birthplace_insee
        assert p.ins == p.nir
        assert p.ins_oid == INS_OID_TEST_NIR
        assert validate_ins(p.ins, p.ins_oid) == p.ins
        assert validate_ins_status(p.ins_status) == p.ins_status
        assert p.sex in ("M", "F")
        assert datetime.date(1930, 1, 1) <= p.birth_date <= datetime.date(2025, 12, 31)
        assert normalize_name_for_index(p.birth_name)
        assert normalize_name_for_index(p.first_names)
        if p.used_name is not None:
            assert p.sex == "F"
            assert normalize_name_for_index(p.used_name)
        assert p.address and "\n" not in p.address
        assert validate_phone(p.phone)
        assert validate_email(p.email) == p.email


def test_patients_have_unique_nirs(patients: list[SyntheticPatient]) -> None:
    assert len({p.nir for p in patients}) == COUNT


def test_patients_are_varied(patients: list[SyntheticPatient]) -> None:
    corsicans = [p for p in patients if p.birthplace_insee[:2] in ("2A", "2B")]
    assert corsicans, "some patients must be born in Corsica"
    assert all(p.nir[5:7] in ("2A", "2B") for p in corsicans)
    assert len(corsicans) < COUNT // 10
    assert any(p.birthplace_insee.startswith("97") for p in patients)
    assert any(p.birthplace_insee.startswith("99") for p in patients)
    assert {p.sex for p in patients} == {"M", "F"}
    assert {p.ins_status for p in patients} == set(INS_STATUSES)
    assert any(p.used_name is not None for p in patients)
    assert {p.birth_date.year // 10 for p in patients} >= set(range(193, 203))
    assert len({p.address for p in patients}) > COUNT // 2


def test_phones_and_emails_cannot_reach_real_people(patients: list[SyntheticPatient]) -> None:
    fiction_blocks = ("019900", "026191", "035301", "046571", "053649", "063998")
    for p in patients:
        assert validate_phone(p.phone)[:6] in fiction_blocks
        assert p.email.rsplit("@", 1)[1] in ("example.com", "example.org", "example.net")


def test_same_seed_is_deterministic(patients: list[SyntheticPatient]) -> None:
    assert list(synthetic_patients(COUNT, seed=1234)) == patients


def test_prefix_is_stable() -> None:
    assert list(synthetic_patients(10, seed=5)) == list(synthetic_patients(50, seed=5))[:10]


def test_different_seed_differs(patients: list[SyntheticPatient]) -> None:
    other = list(synthetic_patients(COUNT, seed=4321))
    assert {p.nir for p in other} != {p.nir for p in patients}


def test_patient_is_frozen(patients: list[SyntheticPatient]) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        patients[0].nir = "x"  # type: ignore[misc]


def test_zero_and_negative_count() -> None:
    assert list(synthetic_patients(0, seed=1)) == []
    with pytest.raises(ValueError, match="count"):
        list(synthetic_patients(-1, seed=1))
