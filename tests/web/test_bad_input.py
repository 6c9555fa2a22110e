"""Bad input is refused with a precise 4xx that names the field, and refused input writes nothing.

Every refusal is checked against the database: the lab's patient rows and the lab's audit chain
are counted before and after (below the ORM, so no tenant filter can hide a stray row).
Duplicates (same NIR; same name and birth date), searches and optimistic locking are here too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import string
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from stdnum.fr import nir as stdnum_nir

from labvault.identity.accounts import Account
from labvault.identity.lab_service import LabInfo
from labvault.identity.models import Patient, User
from labvault.identity.patient_data import PatientData
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX, create_app
from tests.auth_helpers import mark_reauthenticated
from tests.db_inspect import audit_count, row_count
from tests.factories import TEST_PASSWORD, Factory
from tests.web.support import TestClient, bearer, patient_json, token_for

PATIENTS = f"{API_PREFIX}/patients"
MAX_BODY = 64 * 1024


@dataclass
class Env:
    platform: Platform
    client: TestClient
    factory: Factory
    lab: LabInfo
    reception: Account
    admin: Account
    operator: Account
    tokens: dict[uuid.UUID, str]

    def as_(self, account: Account) -> dict[str, str]:
        return bearer(self.tokens[account.id])

    @property
    def headers(self) -> dict[str, str]:
        return self.as_(self.reception)

    def post(self, path: str, body: Any, account: Account | None = None) -> httpx.Response:
        response: httpx.Response = self.client.post(
            path, json=body, headers=self.as_(account or self.reception)
        )
        return response

    def register(self, data: PatientData, **extra: Any) -> dict[str, Any]:
        response = self.post(PATIENTS, patient_json(data, **extra))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def patient(self, **overrides: Any) -> PatientData:
        """Synthetic data with a birth name no other test uses (no accidental homonyms)."""
        overrides.setdefault("birth_name", distinctive_name())
        return self.factory.patient_data(**overrides)


def distinctive_name() -> str:
    return "Qz" + "".join(random.choice(string.ascii_lowercase) for _ in range(10))


@pytest.fixture(scope="module")
def env(platform: Platform) -> Iterator[Env]:
    factory = Factory(platform)
    lab = factory.lab("Laboratoire des entrées")
    reception = factory.user(lab, Role.RECEPTION)
    admin = factory.user(lab, Role.LAB_ADMIN)
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    tokens = {a.id: token_for(platform, a) for a in (reception, admin, operator)}
    with TestClient(create_app(platform)) as client:
        yield Env(platform, client, factory, lab, reception, admin, operator, tokens)


@contextmanager
def nothing_written(
    env: Env, *, platform_chain: bool = False, refusals: int = 0, platform_refusals: int = 0
) -> Iterator[None]:
    """The lab's patient rows and audit chain (and the platform chain if asked) are unchanged,
    except for ``refusals`` audit events: a refused duplicate names existing patients, so the
    refusal itself is audited like a lookup (the refusal, and one hit per patient it names); a
    403 or 404 is audited as ``access.refused`` on the caller's chain (oversight/refusals.py: the
    lab's, ``platform_refusals`` on the platform chain for an operator)."""

    def state() -> tuple[int, int, int | None]:
        return (
            row_count(env.platform, Patient, lab_id=env.lab.id),
            audit_count(env.platform, env.lab.id),
            audit_count(env.platform, None) if platform_chain else None,
        )

    before = state()
    yield
    after = state()
    before = (before[0], before[1] + refusals, None if before[2] is None else before[2] + platform_refusals)
    assert after == before, (
        f"a refused request wrote: (patients, lab audit, platform audit) {before} -> {after}"
    )


def refused_fields(response: httpx.Response) -> list[Any]:
    """The field each 422 error names (the last element of its ``loc``)."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, response.text
    for error in detail:
        assert error["msg"], f"an error without a reason: {error}"
    return [error["loc"][-1] for error in detail]


def with_nir_key(body: str) -> str:
    """Append the control key stdnum computes (2A→19, 2B→18) to a 13-character NIR body."""
    assert len(body) == 13
    return body + stdnum_nir.calc_check_digits(body + "00")


def wrong_key(nir: str) -> str:
    return nir[:13] + f"{int(nir[13:]) % 97 + 1:02d}"


# --- NIR -------------------------------------------------------------------------------------------


def test_nir_with_a_wrong_control_key_is_refused(env: Env) -> None:
    data = env.patient()
    assert data.nir
    with nothing_written(env):
        response = env.post(PATIENTS, patient_json(data, nir=wrong_key(data.nir)))
    assert refused_fields(response) == ["nir"]
    assert "control key" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("cut", [-1, +1, -5], ids=["14-chars", "16-chars", "10-chars"])
def test_nir_of_the_wrong_length_is_refused(env: Env, cut: int) -> None:
    data = env.patient()
    assert data.nir
    nir = data.nir[:cut] if cut < 0 else data.nir + "7" * cut
    with nothing_written(env):
        response = env.post(PATIENTS, patient_json(data, nir=nir))
    assert refused_fields(response) == ["nir"]
    assert "15 characters" in response.json()["detail"][0]["msg"]


def test_nir_inconsistent_with_the_sex_is_refused(env: Env) -> None:
    data = env.patient()
    assert data.nir and data.nir[0] in "12"
    other_sex = "F" if data.sex == "M" else "M"
    with nothing_written(env):
        response = env.post(PATIENTS, patient_json(data, sex=other_sex))
    assert refused_fields(response) == ["nir"]
    assert "sex" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("department", ["2A", "2B"])
def test_corsican_nir_is_accepted_and_found(env: Env, department: str) -> None:
    birth_date = dt.date(1985, 7, 14)
    serial = f"{random.randint(1, 999):03d}"
    nir = with_nir_key(f"18507{department}004{serial}")
    data = env.patient(
        sex="M", birth_date=birth_date, birthplace_insee=f"{department}004", nir=nir, ins=None, ins_oid=None
    )
    created = env.register(data)
    assert created["nir"] == nir
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    found = env.post(f"{PATIENTS}/search/nir", {"nir": spaced.lower()})
    assert [p["id"] for p in found.json()["results"]] == [created["id"]]


# --- JSON and schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"birth_name": "Martin",', b"{'birth_name': 'Martin'}", b"\xff\xfe", b""],
    ids=["truncated", "single-quotes", "not-utf8", "empty"],
)
def test_malformed_json_is_refused_with_a_reason(env: Env, raw: bytes) -> None:
    headers = {**env.headers, "Content-Type": "application/json"}
    with nothing_written(env):
        response = env.client.post(PATIENTS, content=raw, headers=headers)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors and all(e["msg"] for e in errors), response.text


def test_a_json_array_instead_of_an_object_is_refused(env: Env) -> None:
    with nothing_written(env):
        response = env.post(PATIENTS, [patient_json(env.patient())])
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("path", "body", "extra"),
    [
        ("", {"favourite_colour": "bleu"}, "favourite_colour"),
        ("/search/nir", {"nir": "185077500412345", "lab_id": str(uuid.uuid4())}, "lab_id"),
        ("/search/name", {"name": "Martin", "birth_date": "1980-01-01", "fuzzy": True}, "fuzzy"),
    ],
    ids=["create", "search-nir", "search-name"],
)
def test_unknown_fields_are_refused(env: Env, path: str, body: dict[str, Any], extra: str) -> None:
    if not path:
        body = patient_json(env.patient(), **body)
    with nothing_written(env):
        response = env.post(f"{PATIENTS}{path}", body)
    assert refused_fields(response) == [extra]
    assert response.json()["detail"][0]["type"] == "extra_forbidden"


def test_unknown_field_in_a_patch_is_refused(env: Env) -> None:
    created = env.register(env.patient())
    with nothing_written(env):
        response = env.client.patch(
            f"{PATIENTS}/{created['id']}",
            json={"note": "x", "lab_id": str(uuid.uuid4())},
            headers=env.headers,
        )
    assert refused_fields(response) == ["lab_id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_name", "X" * 10_000),
        ("first_names", "Jean " * 2_000),
        ("used_name", "Y" * 201),
        ("address", "rue " * 100),
        ("note", "n" * 2_001),
        ("nir", "1" * 41),
        ("email", "a" * 250 + "@example.org"),
        ("birthplace_insee", "750561"),
    ],
)
def test_oversize_fields_are_refused_naming_the_field(env: Env, field: str, value: str) -> None:
    with nothing_written(env):
        response = env.post(PATIENTS, patient_json(env.patient(), **{field: value}))
    assert refused_fields(response) == [field]


def test_oversize_search_name_is_refused(env: Env) -> None:
    with nothing_written(env):
        response = env.post(f"{PATIENTS}/search/name", {"name": "X" * 10_000, "birth_date": "1980-01-01"})
    assert refused_fields(response) == ["name"]


@pytest.mark.parametrize(
    "birth_date",
    ["1990-02-30", "1990-13-01", "not a date", "30/01/1990", ""],
)
def test_invalid_dates_are_refused(env: Env, birth_date: str) -> None:
    with nothing_written(env):
        response = env.post(
            PATIENTS, patient_json(env.patient(nir=None, ins=None, ins_oid=None), birth_date=birth_date)
        )
    assert refused_fields(response) == ["birth_date"]


@pytest.mark.parametrize(
    "birth_date",
    [dt.date.today() + dt.timedelta(days=1), dt.date(1879, 12, 31)],
    ids=["future", "before-1880"],
)
def test_implausible_dates_are_refused(env: Env, birth_date: dt.date) -> None:
    data = env.patient(nir=None, ins=None, ins_oid=None, birth_date=birth_date)
    with nothing_written(env):
        response = env.post(PATIENTS, patient_json(data))
    assert refused_fields(response) == ["birth_date"]


def test_unknown_purpose_header_is_refused(env: Env) -> None:
    with nothing_written(env):
        response = env.client.post(
            PATIENTS, json=patient_json(env.patient()), headers={**env.headers, "X-Purpose": "curiosity"}
        )
    assert refused_fields(response) == ["X-Purpose"]


@pytest.mark.parametrize(
    ("make_body", "value"),
    [
        (lambda d: patient_json(d, birth_name="Secretname" * 50), "Secretname" * 50),
        (lambda d: patient_json(d, favourite_colour="Secretvalue"), "Secretvalue"),
        (lambda d: patient_json(d, birth_date="1961-02-30"), "1961-02-30"),
        (lambda d: patient_json(d, nir="2" * 41), "2" * 41),
        (lambda d: patient_json(d, sex="Féminin"), "Féminin"),
    ],
    ids=["oversize-name", "unknown-field", "bad-date", "oversize-nir", "bad-sex"],
)
def test_refusals_do_not_echo_the_refused_value(
    env: Env, make_body: Callable[[PatientData], dict[str, Any]], value: str
) -> None:
    """Refused values are usually personal data, and error bodies end up in logs (errors.py)."""
    with nothing_written(env):
        response = env.post(PATIENTS, make_body(env.patient()))
    assert response.status_code == 422
    assert value not in response.text, f"the 422 body echoes the refused value: {response.text[:300]}"


# --- body size -------------------------------------------------------------------------------------


def test_body_over_the_size_limit_is_refused(env: Env) -> None:
    body = patient_json(env.patient(), note="n" * (MAX_BODY + 1))
    with nothing_written(env):
        response = env.post(PATIENTS, body)
    assert response.status_code == 413, response.text
    assert str(MAX_BODY) in response.json()["detail"]


def test_streamed_body_over_the_size_limit_is_refused(env: Env) -> None:
    """No Content-Length (chunked upload): the limit must still answer 413."""

    def chunks() -> Iterator[bytes]:
        yield b'{"birth_name": "Martin", "note": "'
        for _ in range(MAX_BODY // 4096 + 2):
            yield b"n" * 4096
        yield b'"}'

    headers = {**env.headers, "Content-Type": "application/json"}
    with nothing_written(env):
        response = env.client.post(PATIENTS, content=chunks(), headers=headers)
    assert response.status_code == 413, response.text


def test_body_just_under_the_limit_reaches_validation(env: Env) -> None:
    body = patient_json(env.patient(), note="n" * (MAX_BODY - 2_000))
    with nothing_written(env):
        response = env.post(PATIENTS, body)
    assert refused_fields(response) == ["note"]


# --- labs and users --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["operator", "lab_admin"])
def test_user_creation_in_an_unknown_lab_is_404(env: Env, who: str) -> None:
    account = env.operator if who == "operator" else env.admin
    username = f"n{uuid.uuid4().hex[:12]}"
    role = "lab_admin" if who == "operator" else "technician"  # what each may create
    body = {"username": username, "password": TEST_PASSWORD, "role": role}
    mark_reauthenticated(env.platform, env.tokens[account.id])  # creating accounts needs it
    operator = who == "operator"  # the 404 is audited on the caller's chain
    refused = {"refusals": int(not operator), "platform_refusals": int(operator)}
    with nothing_written(env, platform_chain=True, **refused):
        response = env.post(f"{API_PREFIX}/labs/{uuid.uuid4()}/users", body, account)
    assert response.status_code == 404, response.text
    assert row_count(env.platform, User, username=username) == 0


def test_lab_id_that_is_not_a_uuid_is_refused(env: Env) -> None:
    username = f"n{uuid.uuid4().hex[:12]}"
    body = {"username": username, "password": TEST_PASSWORD, "role": "technician"}
    mark_reauthenticated(env.platform, env.tokens[env.operator.id])
    with nothing_written(env, platform_chain=True):
        response = env.post(f"{API_PREFIX}/labs/not-a-uuid/users", body, env.operator)
    assert refused_fields(response) == ["lab_id"]
    assert row_count(env.platform, User, username=username) == 0


# --- duplicates ------------------------------------------------------------------------------------


def test_same_nir_is_a_duplicate_even_with_accept_homonym(env: Env) -> None:
    first = env.register(env.patient())
    data = env.patient()
    assert data.nir
    again = dataclasses.replace(data, nir=first["nir"], ins=first["ins"])
    # The second record must be consistent with the first's NIR to get past validation.
    again = dataclasses.replace(
        again, sex=first["sex"], birth_date=dt.date.fromisoformat(first["birth_date"])
    )
    with nothing_written(env, refusals=4):
        response = env.post(PATIENTS, patient_json(again))
        assert response.status_code == 409, response.text
        assert response.json()["existing_ids"] == [first["id"]]
        response = env.post(PATIENTS, patient_json(again, accept_homonym=True))
        assert response.status_code == 409, response.text
        assert response.json()["existing_ids"] == [first["id"]]


def test_same_name_and_birth_date_needs_accept_homonym(env: Env) -> None:
    first = env.register(env.patient())
    homonym = env.patient(
        birth_name=f"  {first['birth_name'].upper()} ",
        birth_date=dt.date.fromisoformat(first["birth_date"]),
        first_names="Autre Prénom",
        nir=None,
        ins=None,
        ins_oid=None,
    )
    with nothing_written(env, refusals=2):
        response = env.post(PATIENTS, patient_json(homonym))
    assert response.status_code == 409, response.text
    assert response.json()["existing_ids"] == [first["id"]]
    before = row_count(env.platform, Patient, lab_id=env.lab.id)
    second = env.register(homonym, accept_homonym=True)
    assert second["id"] != first["id"]
    assert row_count(env.platform, Patient, lab_id=env.lab.id) == before + 1
    found = env.post(
        f"{PATIENTS}/search/name", {"name": first["birth_name"], "birth_date": first["birth_date"]}
    )
    assert {p["id"] for p in found.json()["results"]} == {first["id"], second["id"]}


def test_search_by_nir_after_registration(env: Env) -> None:
    created = env.register(env.patient())
    nir = created["nir"]
    for typed in (nir, f"{nir[:1]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"):
        response = env.post(f"{PATIENTS}/search/nir", {"nir": typed})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [p["id"] for p in results] == [created["id"]]
        assert results[0]["birth_name"] == created["birth_name"]


def test_search_by_used_name(env: Env) -> None:
    used = "Lefèvre-d'Anjou" + distinctive_name()
    created = env.register(env.patient(used_name=used))
    typed = used.upper().replace("È", "E").replace("-", " ").replace("'", " ")
    response = env.post(f"{PATIENTS}/search/name", {"name": typed, "birth_date": created["birth_date"]})
    assert [p["id"] for p in response.json()["results"]] == [created["id"]]
    other_day = dt.date.fromisoformat(created["birth_date"]) + dt.timedelta(days=1)
    response = env.post(f"{PATIENTS}/search/name", {"name": typed, "birth_date": other_day.isoformat()})
    assert response.json()["results"] == []


def test_invalid_search_nir_is_refused(env: Env) -> None:
    data = env.patient()
    assert data.nir
    with nothing_written(env):
        response = env.post(f"{PATIENTS}/search/nir", {"nir": wrong_key(data.nir)})
    assert refused_fields(response) == ["nir"]


# --- updates ---------------------------------------------------------------------------------------


def test_patch_with_a_stale_revision_is_a_conflict(env: Env) -> None:
    created = env.register(env.patient())
    url = f"{PATIENTS}/{created['id']}"
    with nothing_written(env):
        response = env.client.patch(url, json={"note": "stale", "expected_revision": 7}, headers=env.headers)
    assert response.status_code == 409, response.text
    response = env.client.patch(url, json={"note": "fresh", "expected_revision": 1}, headers=env.headers)
    assert response.status_code == 200, response.text
    assert response.json()["revision"] == 2
    with nothing_written(env):
        response = env.client.patch(url, json={"note": "stale", "expected_revision": 1}, headers=env.headers)
    assert response.status_code == 409, response.text
    reread = env.client.get(url, headers=env.headers).json()
    assert (reread["note"], reread["revision"]) == ("fresh", 2)


def test_patch_to_another_patients_nir_is_a_conflict(env: Env) -> None:
    holder = env.register(env.patient())
    same_traits = {"sex": holder["sex"], "birth_date": dt.date.fromisoformat(holder["birth_date"])}
    other = env.register(env.patient(nir=None, ins=None, ins_oid=None, **same_traits))
    with nothing_written(env):
        response = env.client.patch(
            f"{PATIENTS}/{other['id']}", json={"nir": holder["nir"]}, headers=env.headers
        )
    assert response.status_code == 409, response.text
    assert response.json()["existing_ids"] == [holder["id"]]
    assert env.client.get(f"{PATIENTS}/{other['id']}", headers=env.headers).json()["nir"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nir": "123"}, "nir"),
        ({"birth_name": "X" * 10_000}, "birth_name"),
        ({"birth_date": "2001-02-29"}, "birth_date"),
        ({"sex": "X"}, "sex"),
        ({"expected_revision": "one"}, "expected_revision"),
        ({"birth_name": None}, "birth_name"),
        ({"first_names": None}, "first_names"),
        ({"sex": None}, "sex"),
        ({"birth_date": None}, "birth_date"),
    ],
    ids=[
        "short-nir",
        "oversize-name",
        "bad-date",
        "bad-sex",
        "bad-revision",
        "null-birth-name",
        "null-first-names",
        "null-sex",
        "null-birth-date",
    ],
)
def test_invalid_patch_is_refused_naming_the_field(env: Env, change: dict[str, Any], field: str) -> None:
    created = env.register(env.patient())
    with nothing_written(env):
        response = env.client.patch(f"{PATIENTS}/{created['id']}", json=change, headers=env.headers)
    assert refused_fields(response) == [field]


def test_patch_of_an_unknown_patient_is_404(env: Env) -> None:
    with nothing_written(env, refusals=1):  # the 404 itself, audited (access.refused)
        response = env.client.patch(f"{PATIENTS}/{uuid.uuid4()}", json={"note": "x"}, headers=env.headers)
    assert response.status_code == 404, response.text
