"""The matrix's rows for laboratories: list, create, read, a lab's users and its key rotation."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from labvault.identity.models import User
from labvault.identity.synthetic import generate_finess
from labvault.keys.models import LabKey
from labvault.web.app import API_PREFIX
from tests.db_inspect import row_count
from tests.factories import TEST_PASSWORD
from tests.web.isolation.support import (
    ADMIN,
    Attempt,
    Caller,
    Req,
    Route,
    World,
    check_isolation,
    confined,
    lab_side,
    matrix_cases,
    recently_authenticated,
)


def build_list_labs(_world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/labs")


def verify_list_labs(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    ids = {lab["id"] for lab in response.json()}
    a, b = str(world.lab_a.id), str(world.lab_b.id)
    if attempt.caller is Caller.OWNER:
        assert ids == {a}
    elif attempt.caller is Caller.OTHER_LAB:
        assert ids == {b}
    elif attempt.caller is Caller.OPERATOR:
        assert {a, b} <= ids


def build_create_lab(world: World, _attempt: Attempt) -> Req:
    code = f"M{uuid.uuid4().hex[:8].upper()}"
    finess = generate_finess(random.Random())
    return Req(f"{API_PREFIX}/labs", {"code": code, "name": "Laboratoire matrice", "finess": finess})


def verify_create_lab(_world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    if response.status_code == 201:
        assert response.json()["code"] == req.json["code"]


def build_read_lab(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/labs/{world.lab_a.id}")


def verify_read_lab(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert response.json()["id"] == str(world.lab_a.id)


def build_create_user(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    username = f"m{uuid.uuid4().hex[:12]}"
    return Req(
        f"{API_PREFIX}/labs/{world.lab_a.id}/users",
        {"username": username, "password": TEST_PASSWORD, "role": "technician"},
    )


def verify_create_user(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    created = response.status_code == 201
    assert row_count(world.platform, User, username=req.json["username"]) == int(created)
    if created:
        assert response.json()["lab_id"] == str(world.lab_a.id)


def build_rotate(world: World, _attempt: Attempt) -> Req:
    return Req(
        f"{API_PREFIX}/labs/{world.lab_a.id}/keys/rotate",
        context={"keys": row_count(world.platform, LabKey, lab_id=world.lab_a.id)},
    )


def verify_rotate(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    rotated = response.status_code == 200
    assert row_count(world.platform, LabKey, lab_id=world.lab_a.id) == req.context["keys"] + int(rotated)
    if rotated:
        assert response.json()["lab_id"] == str(world.lab_a.id)


ROUTES: tuple[Route, ...] = (
    Route("GET", f"{API_PREFIX}/labs", ADMIN, lab_side(200, 200, 200), build_list_labs, verify_list_labs),
    Route("POST", f"{API_PREFIX}/labs", ADMIN, lab_side(403, 403, 201), build_create_lab, verify_create_lab),
    Route(
        "GET",
        f"{API_PREFIX}/labs/{{lab_id}}",
        ADMIN,
        lab_side(200, 404, 200),
        build_read_lab,
        verify_read_lab,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/labs/{{lab_id}}/users",
        ADMIN,
        confined(201),
        build_create_user,
        verify_create_user,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/labs/{{lab_id}}/keys/rotate",
        ADMIN,
        lab_side(200, 404, 200),
        build_rotate,
        verify_rotate,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
