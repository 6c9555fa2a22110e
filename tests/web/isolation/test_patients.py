"""The matrix's rows for patients (register, read, change, search) and physicians."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import pytest

from labvault.identity.accounts import context_for
from labvault.identity.physician_service import PhysicianData, PhysicianRecord
from labvault.identity.synthetic import generate_rpps
from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from tests.web.isolation.support import (
    Attempt,
    Build,
    Caller,
    P,
    R,
    Req,
    Route,
    World,
    check_isolation,
    confined,
    distinctive_name,
    fresh_patient,
    lab_side,
    matrix_cases,
    patient_ids,
)
from tests.web.support import patient_json


def build_create_patient(world: World, attempt: Attempt) -> Req:
    if attempt.caller is Caller.OWNER:
        return Req(f"{API_PREFIX}/patients", patient_json(fresh_patient(world)))
    return Req(f"{API_PREFIX}/patients", patient_json(world.twin.data))


def verify_create_patient(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 201:
        return
    assert attempt.account is not None
    body = response.json()
    assert body["lab_id"] == str(attempt.account.lab_id)
    if attempt.caller is Caller.OTHER_LAB:
        assert body["id"] != str(world.twin.id)
        assert str(world.twin.id) not in response.text
        assert str(world.lab_a.id) not in response.text


def build_read_patient(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/patients/{world.target.id}")


def verify_read_patient(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert response.json()["id"] == str(world.target.id)
        assert response.json()["nir"] == world.target.data.nir


def build_patch_patient(world: World, attempt: Attempt) -> Req:
    return Req(
        f"{API_PREFIX}/patients/{world.target.id}", {"note": f"changed by {attempt.caller} {uuid.uuid4()}"}
    )


def verify_patch_patient(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    stored = world.platform.patients.get(context_for(world.owner(Role.RECEPTION)), world.target.id)
    assert (stored.data.note == req.json["note"]) is (response.status_code == 200)


def search_builder(kind: str) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        data = world.target.data
        bodies: dict[str, dict[str, Any]] = {
            "nir": {"nir": data.nir},
            "ins": {"ins": data.ins},
            "name": {"name": data.birth_name.upper(), "birth_date": data.birth_date.isoformat()},
        }
        body = bodies[kind]
        return Req(f"{API_PREFIX}/patients/search/{kind}", body)

    return build


def verify_search(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.caller is Caller.OWNER:
        assert patient_ids(response) == [str(world.target.id)]
    elif attempt.caller is Caller.OTHER_LAB:
        assert patient_ids(response) == []


def physician_of_lab_a(world: World) -> PhysicianRecord:
    """A physician D registered in lab A just now, through the service."""
    rng = random.Random()
    data = PhysicianData(generate_rpps(rng), distinctive_name(rng), distinctive_name(rng))
    return world.platform.physicians.register(context_for(world.owner(Role.RECEPTION)), data)


def build_register_physician(world: World, attempt: Attempt) -> Req:
    rng = random.Random()
    if attempt.caller is Caller.OWNER:
        body = {"rpps": generate_rpps(rng), "family_name": distinctive_name(rng), "given_names": "Jeanne"}
        return Req(f"{API_PREFIX}/physicians", body)
    known = physician_of_lab_a(world)
    body = {"rpps": known.data.rpps, "family_name": known.data.family_name, "given_names": "Jeanne"}
    return Req(f"{API_PREFIX}/physicians", body, context={"known": str(known.id)})


def verify_register_physician(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code != 201:
        return
    assert attempt.account is not None
    assert response.json()["lab_id"] == str(attempt.account.lab_id)
    known = req.context.get("known")
    if known is not None:
        assert known not in response.text and str(world.lab_a.id) not in response.text


def build_find_physician(world: World, _attempt: Attempt) -> Req:
    known = physician_of_lab_a(world)
    return Req(f"{API_PREFIX}/physicians/search", {"rpps": known.data.rpps}, context={"known": known})


def verify_find_physician(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    known: PhysicianRecord = req.context["known"]
    if response.status_code == 200:
        assert response.json()["id"] == str(known.id)
    else:
        assert str(known.id) not in response.text and known.data.family_name not in response.text


ROUTES: tuple[Route, ...] = (
    Route(
        "POST", P, R, lab_side(201, 201, 403), build_create_patient, verify_create_patient, echoes_input=True
    ),
    Route("GET", f"{P}/{{patient_id}}", R, confined(200), build_read_patient, verify_read_patient),
    Route("PATCH", f"{P}/{{patient_id}}", R, confined(200), build_patch_patient, verify_patch_patient),
    Route("POST", f"{P}/search/nir", R, lab_side(200, 200, 403), search_builder("nir"), verify_search),
    Route("POST", f"{P}/search/ins", R, lab_side(200, 200, 403), search_builder("ins"), verify_search),
    Route("POST", f"{P}/search/name", R, lab_side(200, 200, 403), search_builder("name"), verify_search),
    Route(
        "POST",
        f"{API_PREFIX}/physicians",
        R,
        lab_side(201, 201, 403),
        build_register_physician,
        verify_register_physician,
        echoes_input=True,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/physicians/search",
        R,
        confined(200),
        build_find_physician,
        verify_find_physician,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
