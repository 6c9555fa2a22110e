"""Security keys in the browser UI: list, register (WebAuthn, through the page's script), remove;
and confirming one's identity (password + code) before those sensitive actions, as the API's
``/auth/reauth`` does. Registration and removal need a recent confirmation (5 minutes): a
session left open on a desk cannot enrol the wrong person's key."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from labvault.errors import Unauthenticated
from labvault.identity.reauth import ReauthenticationRequired, require_recent_auth
from labvault.web.deps import AuthRateLimit, PlatformDep, origin_of
from labvault.web.ui import UI_PREFIX
from labvault.web.ui.ceremonies import ceremony_response
from labvault.web.ui.form_fields import no_nul, parse_credential
from labvault.web.ui.routes_pages import page
from labvault.web.ui.session import CheckedPost, UiSession, UiSessionDep

router = APIRouter(include_in_schema=False)
KEYS = f"{UI_PREFIX}/security-keys"
CONFIRM_REFUSED = "Confirmation refused: check your password and your code or security key."


def _recent(session: UiSession, platform: PlatformDep) -> bool:
    accounts = platform.accounts
    try:
        require_recent_auth(session.account, accounts.policy.reauth_max_age, accounts.clock())
    except ReauthenticationRequired:
        return False
    return True


@router.get("/security-keys")
def security_keys(session: UiSessionDep, platform: PlatformDep) -> Response:
    keys = platform.security_keys.keys(session.account)
    return page("security_keys.html", session, keys=keys, recent=_recent(session, platform))


@router.post("/security-keys/register/begin")
def register_begin(session: CheckedPost, platform: PlatformDep) -> JSONResponse:
    return ceremony_response(platform.security_keys.begin_registration(session.account))


@router.post("/security-keys/register")
def register(
    request: Request,
    session: CheckedPost,
    platform: PlatformDep,
    challenge_id: Annotated[uuid.UUID, Form()],
    credential: Annotated[str, Form(max_length=8192)],
    label: Annotated[str, Form(max_length=100)] = "security key",
) -> Response:
    no_nul(credential=credential, label=label)
    platform.security_keys.finish_registration(
        session.account, challenge_id, parse_credential(credential), label, origin_of(request)
    )
    return RedirectResponse(KEYS, status_code=303)


@router.post("/security-keys/{key_id}/remove")
def remove(key_id: uuid.UUID, request: Request, session: CheckedPost, platform: PlatformDep) -> Response:
    platform.security_keys.remove(session.account, key_id, origin_of(request))
    return RedirectResponse(KEYS, status_code=303)


def _reauth_page(
    session: UiSession, platform: PlatformDep, status: int = 200, message: str | None = None
) -> Response:
    """The confirmation form: password + code, and password + key for those who have one (only
    the key for roles that must use it once they have one: their code is refused)."""
    has_key = bool(platform.security_keys.keys(session.account))
    key_only = has_key and session.account.role.value in platform.accounts.policy.security_key_roles
    return page("reauth.html", session, status, message=message, has_key=has_key, key_only=key_only)


@router.get("/reauth")
def reauth_form(session: UiSessionDep, platform: PlatformDep) -> Response:
    return _reauth_page(session, platform)


@router.post("/reauth/key/begin")
def reauth_key_begin(session: CheckedPost, platform: PlatformDep) -> JSONResponse:
    return ceremony_response(platform.security_keys.begin_reauth(session.account))


@router.post("/reauth/key", dependencies=[AuthRateLimit])
def reauth_key(
    request: Request,
    session: CheckedPost,
    platform: PlatformDep,
    password: Annotated[str, Form(max_length=1024)],
    challenge_id: Annotated[uuid.UUID, Form()],
    credential: Annotated[str, Form(max_length=8192)],
) -> Response:
    """Password and a key's answer (the page's script fills ``credential``)."""
    no_nul(password=password, credential=credential)
    answer = parse_credential(credential)
    try:
        platform.security_keys.finish_reauth(
            session.account, password, challenge_id, answer, origin_of(request)
        )
    except Unauthenticated:
        return _reauth_page(session, platform, 401, CONFIRM_REFUSED)
    return RedirectResponse(KEYS, status_code=303)


@router.post("/reauth", dependencies=[AuthRateLimit])
def reauth(
    request: Request,
    session: CheckedPost,
    platform: PlatformDep,
    password: Annotated[str, Form(max_length=1024)],
    totp_code: Annotated[str, Form(max_length=10)],
) -> Response:
    """Both factors again; back to the security keys (the only sensitive page so far)."""
    no_nul(password=password, totp_code=totp_code)
    try:
        platform.accounts.reauthenticate(session.account, password, totp_code, origin_of(request))
    except Unauthenticated:
        return _reauth_page(session, platform, 401, CONFIRM_REFUSED)
    return RedirectResponse(KEYS, status_code=303)
