"""Isolation-matrix rows' builders for the security-key routes (``/api/v1/auth/security-keys``).

Kept apart from test_isolation_matrix.py (which imports these): each caller registers and uses its
own software authenticator. ``world``/``attempt``/``req`` are that module's World, Attempt and Req.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import httpx

from labvault.identity.accounts import Account
from labvault.security.access import Role
from labvault.store.base import utcnow
from labvault.web.app import API_PREFIX
from tests.auth_helpers import mark_reauthenticated, pool_for
from tests.conftest import TEST_PASSWORD
from tests.soft_authenticator import SoftAuthenticator
from tests.web.support import bearer

KEYS = f"{API_PREFIX}/auth/security-keys"
_KEYS: dict[tuple[int, uuid.UUID], SoftAuthenticator] = {}


def _fresh(account: Account) -> Account:
    return dataclasses.replace(account, reauthenticated_at=utcnow())


def new_key(world: Any, account: Account) -> SoftAuthenticator:
    """Register a new software key for ``account`` through the service."""
    service = world.platform.security_keys
    key = SoftAuthenticator(world.platform.settings.webauthn_origin)
    ceremony = service.begin_registration(_fresh(account))
    credential = key.create(ceremony.options_json)
    service.finish_registration(_fresh(account), ceremony.challenge_id, credential, "matrix")
    return key


def key_of(world: Any, account: Account) -> SoftAuthenticator:
    """``account``'s key (registered on first use), the account enrolled in TOTP too."""
    pool_for(world.platform).app(account.username)
    slot = (id(world.platform), account.id)
    if slot not in _KEYS:
        _KEYS[slot] = new_key(world, account)
    return _KEYS[slot]


def _reauthenticated(world: Any, attempt: Any) -> None:
    if attempt.account is not None:
        mark_reauthenticated(world.platform, world.tokens[attempt.account.id])


def build_register_begin(world: Any, attempt: Any, req: type) -> Any:
    _reauthenticated(world, attempt)
    return req(f"{KEYS}/register/begin")


def verify_register_begin(world: Any, attempt: Any, _req: Any, response: httpx.Response) -> None:
    if attempt.account is not None:
        assert response.json()["options"]["rp"]["id"] == world.platform.settings.webauthn_rp_id


def build_register_finish(world: Any, attempt: Any, req: type) -> Any:
    _reauthenticated(world, attempt)
    if attempt.account is None:
        return req(f"{KEYS}/register/finish", {"challenge_id": str(uuid.uuid4()), "credential": {"id": "AA"}})
    ceremony = world.platform.security_keys.begin_registration(_fresh(attempt.account))
    key = SoftAuthenticator(world.platform.settings.webauthn_origin)
    body = {"challenge_id": str(ceremony.challenge_id), "credential": key.create(ceremony.options_json)}
    return req(f"{KEYS}/register/finish", body, context={"key": key})


def verify_register_finish(world: Any, attempt: Any, req: Any, response: httpx.Response) -> None:
    if attempt.account is not None:
        labels = [k.label for k in world.platform.security_keys.keys(attempt.account)]
        assert labels[-1] == "security key"


def build_list_keys(world: Any, attempt: Any, req: type) -> Any:
    if attempt.account is not None:
        key_of(world, attempt.account)
    return req(KEYS)


def verify_list_keys(world: Any, attempt: Any, _req: Any, response: httpx.Response) -> None:
    if attempt.account is not None:
        mine = {str(k.id) for k in world.platform.security_keys.keys(attempt.account)}
        assert {k["id"] for k in response.json()} == mine and mine


def build_remove_key(world: Any, attempt: Any, req: type) -> Any:
    """Always one of lab A's reception owner's keys: only its owner may remove it."""
    _reauthenticated(world, attempt)
    owner = world.owner(Role.RECEPTION)
    new_key(world, owner)
    key_id = world.platform.security_keys.keys(owner)[-1].id
    return req(f"{KEYS}/{key_id}", context={"key_id": key_id})


def verify_remove_key(world: Any, attempt: Any, req: Any, response: httpx.Response) -> None:
    owner = world.owner(Role.RECEPTION)
    present = req.context["key_id"] in {k.id for k in world.platform.security_keys.keys(owner)}
    assert present is (response.status_code != 204)


def build_login_begin(world: Any, _attempt: Any, req: type) -> Any:
    return req(f"{KEYS}/login/begin", {"username": world.owner(Role.RECEPTION).username})


def verify_login_begin(_world: Any, _attempt: Any, _req: Any, response: httpx.Response) -> None:
    assert response.json()["options"]["allowCredentials"] == []  # discoverable keys only


def _login_body(world: Any) -> dict[str, Any]:
    owner = world.owner(Role.RECEPTION)
    key = key_of(world, owner)
    ceremony = world.platform.security_keys.begin_login(owner.username)
    return {
        "username": owner.username,
        "password": TEST_PASSWORD,
        "challenge_id": str(ceremony.challenge_id),
        "credential": key.get(ceremony.options_json),
    }


def build_login_finish(world: Any, _attempt: Any, req: type) -> Any:
    return req(f"{KEYS}/login/finish", _login_body(world))


def verify_login_finish(world: Any, _attempt: Any, req: Any, response: httpx.Response) -> None:
    me = world.client.get(f"{API_PREFIX}/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["id"] == str(world.owner(Role.RECEPTION).id)
    # The challenge is single-use: the next send of this request (garbage headers) needs a new one.
    req.json.update(_login_body(world))


def build_reauth_begin(world: Any, attempt: Any, req: type) -> Any:
    if attempt.account is not None:
        key_of(world, attempt.account)
    return req(f"{KEYS}/reauth/begin")


def verify_reauth_begin(_world: Any, attempt: Any, _req: Any, response: httpx.Response) -> None:
    if attempt.account is not None:
        assert json.dumps(response.json()["options"]["allowCredentials"])


def build_reauth_finish(world: Any, attempt: Any, req: type) -> Any:
    if attempt.account is None:
        body = {"password": TEST_PASSWORD, "challenge_id": str(uuid.uuid4()), "credential": {"id": "AA"}}
        return req(f"{KEYS}/reauth/finish", body)
    key = key_of(world, attempt.account)
    ceremony = world.platform.security_keys.begin_reauth(attempt.account)
    body = {
        "password": TEST_PASSWORD,
        "challenge_id": str(ceremony.challenge_id),
        "credential": key.get(ceremony.options_json),
    }
    return req(f"{KEYS}/reauth/finish", body)


def verify_reauth_finish(world: Any, attempt: Any, _req: Any, _response: httpx.Response) -> None:
    if attempt.account is not None:
        caller = world.platform.accounts.resolve_token(world.tokens[attempt.account.id])
        assert caller.reauthenticated_at is not None
