"""The matrix's rows for security keys (``/api/v1/auth/security-keys``): each caller registers
and uses its own software authenticator."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import httpx
import pytest

from labvault.identity.accounts import Account
from labvault.security.access import Role
from labvault.store.base import utcnow
from labvault.web.app import API_PREFIX
from tests.auth_helpers import pool_for
from tests.factories import TEST_PASSWORD
from tests.soft_authenticator import SoftAuthenticator
from tests.web.isolation.support import (
    Attempt,
    Caller,
    R,
    Req,
    Route,
    World,
    check_isolation,
    everyone,
    lab_side,
    matrix_cases,
    recently_authenticated,
)
from tests.web.support import bearer

KEYS = f"{API_PREFIX}/auth/security-keys"
_KEYS: dict[tuple[int, uuid.UUID], SoftAuthenticator] = {}


def _fresh(account: Account) -> Account:
    return dataclasses.replace(account, reauthenticated_at=utcnow())


def new_key(world: World, account: Account) -> SoftAuthenticator:
    """Register a new software key for ``account`` through the service."""
    service = world.platform.security_keys
    key = SoftAuthenticator(world.platform.settings.webauthn_origin)
    ceremony = service.begin_registration(_fresh(account))
    credential = key.create(ceremony.options_json)
    service.finish_registration(_fresh(account), ceremony.challenge_id, credential, "matrix")
    return key


def key_of(world: World, account: Account) -> SoftAuthenticator:
    """``account``'s key (registered on first use), the account enrolled in TOTP too."""
    pool_for(world.platform).app(account.username)
    slot = (id(world.platform), account.id)
    if slot not in _KEYS:
        _KEYS[slot] = new_key(world, account)
    return _KEYS[slot]


def build_register_begin(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    return Req(f"{KEYS}/register/begin")


def verify_register_begin(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        assert response.json()["options"]["rp"]["id"] == world.platform.settings.webauthn_rp_id


def build_register_finish(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    if attempt.account is None:
        return Req(f"{KEYS}/register/finish", {"challenge_id": str(uuid.uuid4()), "credential": {"id": "AA"}})
    ceremony = world.platform.security_keys.begin_registration(_fresh(attempt.account))
    key = SoftAuthenticator(world.platform.settings.webauthn_origin)
    body = {"challenge_id": str(ceremony.challenge_id), "credential": key.create(ceremony.options_json)}
    return Req(f"{KEYS}/register/finish", body, context={"key": key})


def verify_register_finish(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        labels = [k.label for k in world.platform.security_keys.keys(attempt.account)]
        assert labels[-1] == "security key"


def build_list_keys(world: World, attempt: Attempt) -> Req:
    if attempt.account is not None:
        key_of(world, attempt.account)
    return Req(KEYS)


def verify_list_keys(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        mine = {str(k.id) for k in world.platform.security_keys.keys(attempt.account)}
        assert {k["id"] for k in response.json()} == mine and mine


def build_remove_key(world: World, attempt: Attempt) -> Req:
    """Always one of lab A's reception owner's keys: only its owner may remove it."""
    recently_authenticated(world, attempt)
    owner = world.owner(Role.RECEPTION)
    new_key(world, owner)
    key_id = world.platform.security_keys.keys(owner)[-1].id
    return Req(f"{KEYS}/{key_id}", context={"key_id": key_id})


def verify_remove_key(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    owner = world.owner(Role.RECEPTION)
    present = req.context["key_id"] in {k.id for k in world.platform.security_keys.keys(owner)}
    assert present is (response.status_code != 204)


def build_login_begin(world: World, _attempt: Attempt) -> Req:
    return Req(f"{KEYS}/login/begin", {"username": world.owner(Role.RECEPTION).username})


def verify_login_begin(_world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    assert response.json()["options"]["allowCredentials"] == []  # discoverable keys only


def _login_body(world: World) -> dict[str, Any]:
    owner = world.owner(Role.RECEPTION)
    key = key_of(world, owner)
    ceremony = world.platform.security_keys.begin_login(owner.username)
    return {
        "username": owner.username,
        "password": TEST_PASSWORD,
        "challenge_id": str(ceremony.challenge_id),
        "credential": key.get(ceremony.options_json),
    }


def build_login_finish(world: World, _attempt: Attempt) -> Req:
    return Req(f"{KEYS}/login/finish", _login_body(world))


def verify_login_finish(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    me = world.client.get(f"{API_PREFIX}/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["id"] == str(world.owner(Role.RECEPTION).id)
    # The challenge is single-use: the next send of this request (garbage headers) needs a new one.
    req.json.update(_login_body(world))


def build_reauth_begin(world: World, attempt: Attempt) -> Req:
    if attempt.account is not None:
        key_of(world, attempt.account)
    return Req(f"{KEYS}/reauth/begin")


def verify_reauth_begin(_world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        assert json.dumps(response.json()["options"]["allowCredentials"])


def build_reauth_finish(world: World, attempt: Attempt) -> Req:
    if attempt.account is None:
        body = {"password": TEST_PASSWORD, "challenge_id": str(uuid.uuid4()), "credential": {"id": "AA"}}
        return Req(f"{KEYS}/reauth/finish", body)
    key = key_of(world, attempt.account)
    ceremony = world.platform.security_keys.begin_reauth(attempt.account)
    body = {
        "password": TEST_PASSWORD,
        "challenge_id": str(ceremony.challenge_id),
        "credential": key.get(ceremony.options_json),
    }
    return Req(f"{KEYS}/reauth/finish", body)


def verify_reauth_finish(world: World, attempt: Attempt, _req: Req, _response: httpx.Response) -> None:
    if attempt.account is not None:
        caller = world.platform.accounts.resolve_token(world.tokens[attempt.account.id])
        assert caller.reauthenticated_at is not None


ROUTES: tuple[Route, ...] = (
    Route("POST", f"{KEYS}/login/begin", None, everyone(200), build_login_begin, verify_login_begin),
    Route("POST", f"{KEYS}/login/finish", None, everyone(200), build_login_finish, verify_login_finish),
    Route(
        "POST",
        f"{KEYS}/register/begin",
        R,
        lab_side(200, 200, 200),
        build_register_begin,
        verify_register_begin,
    ),
    Route(
        "POST",
        f"{KEYS}/register/finish",
        R,
        lab_side(201, 201, 201),
        build_register_finish,
        verify_register_finish,
    ),
    Route("GET", KEYS, R, lab_side(200, 200, 200), build_list_keys, verify_list_keys),
    Route("DELETE", f"{KEYS}/{{key_id}}", R, lab_side(204, 404, 404), build_remove_key, verify_remove_key),
    Route(
        "POST", f"{KEYS}/reauth/begin", R, lab_side(200, 200, 200), build_reauth_begin, verify_reauth_begin
    ),
    Route(
        "POST", f"{KEYS}/reauth/finish", R, lab_side(200, 200, 200), build_reauth_finish, verify_reauth_finish
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
