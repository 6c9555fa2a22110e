"""Security keys (WebAuthn): register one (signed in, re-authenticated), sign in or re-authenticate
with the password and the key instead of the app's code. The ``options`` answered are what
``navigator.credentials.create/get`` take; the browser's answer goes back as ``credential``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from labvault.identity.security_keys import Ceremony
from labvault.web.deps import AuthRateLimit, CurrentAccount, PlatformDep, origin_of
from labvault.web.routes.auth import PUBLIC, token_out
from labvault.web.schemas import Password, ReauthOut, Strict, TokenOut, Username

router = APIRouter(prefix="/auth/security-keys", tags=["auth"])


class CeremonyOut(BaseModel):
    challenge_id: uuid.UUID
    options: dict[str, Any] = Field(description="PublicKeyCredentialCreation/RequestOptions (JSON form)")


class RegisterIn(Strict):
    challenge_id: uuid.UUID
    credential: dict[str, Any] = Field(description="The browser's PublicKeyCredential, JSON-encoded")
    label: str = Field(default="security key", max_length=100)


class LoginBeginIn(Strict):
    username: Username


class LoginFinishIn(Strict):
    username: Username
    password: Password
    challenge_id: uuid.UUID
    credential: dict[str, Any]


class ReauthFinishIn(Strict):
    password: Password
    challenge_id: uuid.UUID
    credential: dict[str, Any]


class KeyOut(BaseModel):
    id: uuid.UUID
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


def _ceremony(ceremony: Ceremony) -> CeremonyOut:
    return CeremonyOut(challenge_id=ceremony.challenge_id, options=json.loads(ceremony.options_json))


@router.post("/register/begin", response_model=CeremonyOut)
def register_begin(account: CurrentAccount, platform: PlatformDep) -> CeremonyOut:
    """Options to register a new key (re-authentication required)."""
    return _ceremony(platform.security_keys.begin_registration(account))


@router.post("/register/finish", response_model=KeyOut, status_code=status.HTTP_201_CREATED)
def register_finish(
    body: RegisterIn, account: CurrentAccount, request: Request, platform: PlatformDep
) -> KeyOut:
    key = platform.security_keys.finish_registration(
        account, body.challenge_id, body.credential, body.label, origin_of(request)
    )
    return KeyOut(**vars(key))


@router.get("", response_model=list[KeyOut])
def list_keys(account: CurrentAccount, platform: PlatformDep) -> list[KeyOut]:
    return [KeyOut(**vars(key)) for key in platform.security_keys.keys(account)]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_key(key_id: uuid.UUID, account: CurrentAccount, request: Request, platform: PlatformDep) -> None:
    """Forget one of your keys (re-authentication required)."""
    platform.security_keys.remove(account, key_id, origin_of(request))


@router.post("/login/begin", response_model=CeremonyOut, openapi_extra=PUBLIC, dependencies=[AuthRateLimit])
def login_begin(body: LoginBeginIn, platform: PlatformDep) -> CeremonyOut:
    """A challenge for the user's keys (the same kind of answer whether or not the user exists)."""
    return _ceremony(platform.security_keys.begin_login(body.username))


@router.post("/login/finish", response_model=TokenOut, openapi_extra=PUBLIC, dependencies=[AuthRateLimit])
def login_finish(body: LoginFinishIn, request: Request, platform: PlatformDep) -> TokenOut:
    """Password and the key's answer for a session token; every refusal is the login's 401."""
    issued = platform.security_keys.finish_login(
        body.username, body.password, body.challenge_id, body.credential, origin_of(request)
    )
    return token_out(issued)


@router.post("/reauth/begin", response_model=CeremonyOut)
def reauth_begin(account: CurrentAccount, platform: PlatformDep) -> CeremonyOut:
    return _ceremony(platform.security_keys.begin_reauth(account))


@router.post("/reauth/finish", response_model=ReauthOut, dependencies=[AuthRateLimit])
def reauth_finish(
    body: ReauthFinishIn, account: CurrentAccount, request: Request, platform: PlatformDep
) -> ReauthOut:
    at = platform.security_keys.finish_reauth(
        account, body.password, body.challenge_id, body.credential, origin_of(request)
    )
    return ReauthOut(reauthenticated_at=at, valid_until=at + platform.accounts.policy.reauth_max_age)
