"""Synthetic identities for demos, tests and benchmarks — never real people.

Everything is derived from a seed, so a demo database or a benchmark can be rebuilt identically.
Identifiers are structurally valid (they pass :mod:`labvault.identity.validation`) but are drawn
at random; INS identities are tagged with the *test* NIR OID so they can never be mistaken for
production ones. Phone numbers come from the ARCEP blocks reserved for fiction and e-mail
addresses use the RFC 2606 example domains, so nothing generated here can reach a real person.
"""

from __future__ import annotations

import datetime
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from faker import Faker
from stdnum import luhn

from labvault.identity.validation import INS_OID_TEST_NIR, INS_STATUSES

__all__ = [
    "SyntheticPatient",
    "SyntheticPhysician",
    "generate_finess",
    "generate_nir",
    "generate_rpps",
    "synthetic_full_names",
    "synthetic_patients",
    "synthetic_physicians",
]

# Metropolitan departments ("20" has not been used for births since Corsica was split in 1976).
_METRO_DEPARTMENTS: Final = tuple(f"{n:02d}" for n in range(1, 96) if n != 20)
_CORSICA_DEPARTMENTS: Final = ("2A", "2B")
_OVERSEAS_DEPARTMENTS: Final = ("971", "972", "973", "974", "976")
# INSEE country codes used as "commune" for births abroad (department 99).
_FOREIGN_COUNTRIES: Final = ("109", "127", "131", "134", "139", "350", "351", "352")
# ARCEP numbering blocks reserved for audiovisual fiction: 10,000 numbers each, none assignable.
_FICTION_PHONE_BLOCKS: Final = ("01 99 00", "02 61 91", "03 53 01", "04 65 71", "05 36 49", "06 39 98")
_EMAIL_DOMAINS: Final = ("example.com", "example.org", "example.net")

_BIRTH_FIRST: Final = datetime.date(1930, 1, 1).toordinal()
_BIRTH_LAST: Final = datetime.date(2025, 12, 31).toordinal()
_CORSICA_SPLIT_YEAR: Final = 1976
_INS_STATUS_WEIGHTS: Final = (10, 20, 15, 55)  # provisoire, recuperee, validee, qualifiee
_POOL_SIZE: Final = 5_000
_SPECIALTIES: Final = (
    "médecine générale",
    "médecine générale",
    "médecine générale",
    "endocrinologie",
    "néphrologie",
    "cardiologie",
    "gastro-entérologie",
    "maladies infectieuses",
)


def generate_nir(
    rng: random.Random, sex: str, birth_date: datetime.date, department: str, commune: str
) -> str:
    """Return a valid 15-character NIR for the given sex, birth date and birthplace.

    ``department`` + ``commune`` must be the 5-character INSEE code of the birthplace: a 2-char
    department ("75", "2A", "99" for abroad) with a 3-digit commune/country, or a 3-digit overseas
    department ("974") with a 2-digit commune. The 3-digit serial is drawn from ``rng``; the key
    is 97 - (number mod 97) with 2A→19 and 2B→18, exactly as ``stdnum.fr.nir`` checks it.
    """
    sex_digit = {"M": "1", "F": "2"}.get(sex)
    if sex_digit is None:
        raise ValueError("sex must be 'M' or 'F' to generate a NIR")
    place = department + commune
    if len(place) != 5:
        raise ValueError("department + commune must form a 5-character INSEE code")
    serial = rng.randint(1, 999)
    body = f"{sex_digit}{birth_date.year % 100:02d}{birth_date.month:02d}{place}{serial:03d}"
    return body + _nir_key(body)


def _nir_key(body: str) -> str:
    numeric = body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7]) + body[7:13]
    return f"{97 - int(numeric) % 97:02d}"


def generate_finess(rng: random.Random) -> str:
    """Return a random 9-digit FINESS (metropolitan department prefix) with a valid Luhn key."""
    body = rng.choice(_METRO_DEPARTMENTS) + f"{rng.randint(0, 999_999):06d}"
    return body + str(luhn.calc_check_digit(body))


def generate_rpps(rng: random.Random) -> str:
    """Return a random 11-digit RPPS starting with "10" (as RPPS numbers do) with a valid Luhn key."""
    body = "10" + f"{rng.randint(0, 99_999_999):08d}"
    return body + str(luhn.calc_check_digit(body))


@dataclass(frozen=True)
class SyntheticPatient:
    """One invented patient identity, consistent across all of its fields."""

    birth_name: str
    used_name: str | None
    first_names: str
    sex: str
    birth_date: datetime.date
    birthplace_insee: str
    nir: str
    ins: str
    ins_oid: str
    ins_status: str
    address: str
    phone: str
    email: str


@dataclass(frozen=True)
class _Pools:
    """Values drawn from Faker once per call: Faker costs ~20 µs per value, sampling is ~free."""

    last_names: Sequence[str]
    male_first_names: Sequence[str]
    female_first_names: Sequence[str]
    addresses: Sequence[str]


def _build_pools(fake: Faker) -> _Pools:
    # The fr_FR provider only knows a few hundred names; drawing that many distinct ones covers it.
    return _Pools(
        last_names=sorted({fake.last_name() for _ in range(2_000)}),
        male_first_names=sorted({fake.first_name_male() for _ in range(1_000)}),
        female_first_names=sorted({fake.first_name_female() for _ in range(1_000)}),
        addresses=[fake.address().replace("\n", ", ") for _ in range(_POOL_SIZE)],
    )


def _birthplace(rng: random.Random, birth_date: datetime.date) -> tuple[str, str]:
    """Pick (department, commune): ~3% Corsica, ~3% overseas, ~5% abroad, the rest metropolitan.

    Corsica is only drawn for births from 1976 on, when 2A/2B replaced department 20.
    """
    draw = rng.random()
    if draw < 0.06:
        if birth_date.year >= _CORSICA_SPLIT_YEAR:
            return rng.choice(_CORSICA_DEPARTMENTS), f"{rng.randint(1, 366):03d}"
    elif draw < 0.09:
        return rng.choice(_OVERSEAS_DEPARTMENTS), f"{rng.randint(1, 34):02d}"
    elif draw < 0.14:
        return "99", rng.choice(_FOREIGN_COUNTRIES)
    return rng.choice(_METRO_DEPARTMENTS), f"{rng.randint(1, 800):03d}"


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = (ch for ch in decomposed if ch.isascii() and (ch.isalnum() or ch in " -'"))
    return "".join(kept).lower().replace(" ", "-").replace("'", "") or "x"


def synthetic_patients(count: int, seed: int) -> Iterator[SyntheticPatient]:
    """Yield ``count`` synthetic patients, identical for identical (count, seed).

    NIRs are unique within one call: on a collision the whole birth identity (sex, date, place,
    serial) is redrawn. With 999 serials per sex, birth month and birthplace collisions are rare,
    and redrawing everything rather than only the serial cannot loop on a saturated combination.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    pools = _build_pools(fake)
    seen_nirs: set[str] = set()

    for index in range(count):
        while True:
            sex = rng.choice(("M", "F"))
            birth_date = datetime.date.fromordinal(rng.randint(_BIRTH_FIRST, _BIRTH_LAST))
            department, commune = _birthplace(rng, birth_date)
            nir = generate_nir(rng, sex, birth_date, department, commune)
            if nir not in seen_nirs:
                break
        seen_nirs.add(nir)

        birth_name = rng.choice(pools.last_names)
        first_pool = pools.male_first_names if sex == "M" else pools.female_first_names
        first_names = " ".join(rng.sample(first_pool, rng.choices((1, 2, 3), weights=(50, 35, 15))[0]))
        used_name: str | None = None
        if sex == "F" and birth_date.year <= 2000 and rng.random() < 0.5:
            used_name = rng.choice(pools.last_names)

        display_last = used_name or birth_name
        email = (
            f"{_ascii_slug(first_names.split(' ')[0])}.{_ascii_slug(display_last)}.{index}"
            f"@{rng.choice(_EMAIL_DOMAINS)}"
        )
        phone = f"{rng.choice(_FICTION_PHONE_BLOCKS)} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"

        yield SyntheticPatient(
            birth_name=birth_name,
            used_name=used_name,
            first_names=first_names,
            sex=sex,
            birth_date=birth_date,
            birthplace_insee=department + commune,
            nir=nir,
            ins=nir,
            ins_oid=INS_OID_TEST_NIR,
            ins_status=rng.choices(INS_STATUSES, weights=_INS_STATUS_WEIGHTS)[0],
            address=rng.choice(pools.addresses),
            phone=phone,
            email=email,
        )


@dataclass(frozen=True)
class SyntheticPhysician:
    """One invented prescriber: a valid (random) RPPS, a name, a specialty, fictional contacts."""

    rpps: str
    family_name: str
    given_names: str
    specialty: str
    phone: str
    email: str


def _fiction_phone(rng: random.Random) -> str:
    return f"{rng.choice(_FICTION_PHONE_BLOCKS)} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"


def synthetic_physicians(count: int, seed: int) -> list[SyntheticPhysician]:
    """``count`` prescribers with distinct RPPS numbers, identical for identical (count, seed)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    seen: set[str] = set()
    doctors: list[SyntheticPhysician] = []
    while len(doctors) < count:
        rpps = generate_rpps(rng)
        if rpps in seen:
            continue
        seen.add(rpps)
        family = fake.last_name()
        given = fake.first_name_female() if rng.random() < 0.5 else fake.first_name_male()
        doctors.append(
            SyntheticPhysician(
                rpps=rpps,
                family_name=family,
                given_names=given,
                specialty=_SPECIALTIES[len(doctors) % len(_SPECIALTIES)],
                phone=_fiction_phone(rng),
                email=f"dr.{_ascii_slug(family)}.{len(doctors)}@{rng.choice(_EMAIL_DOMAINS)}",
            )
        )
    return doctors


def synthetic_full_names(count: int, seed: int) -> list[str]:
    """``count`` invented "Prénom NOM" names for staff accounts, identical for identical (count, seed)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    return [f"{fake.first_name()} {fake.last_name().upper()}" for _ in range(count)]
