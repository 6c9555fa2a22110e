"""Signing in and out of the browser UI.

The login form takes the same three things as the API (username, password, the authenticator
app's code), goes through the same credential check (same refusal for every failure, lockout,
rate limit) and gets a login session, which the browser keeps in an HttpOnly cookie: a new token
at each sign-in, so no value planted before sign-in survives it (session fixation)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from labvault.errors import Forbidden, Unauthenticated
from labvault.identity.accounts import TokenKind
from labvault.identity.sign_in import IssuedToken
from labvault.web.deps import AuthRateLimit, PlatformDep, origin_of
from labvault.web.ui import UI_PREFIX, cookies, csrf, pages
from labvault.web.ui.ceremonies import ceremony_response
from labvault.web.ui.form_fields import no_nul, parse_credential
from labvault.web.ui.session import CheckedPost

router = APIRouter(include_in_schema=False)
SIGN_IN_REFUSED = "Sign-in refused: check your username, password and the current code of your app."


def _login_page(
    request: Request, status: int = 200, message: str | None = None, username: str = ""
) -> Response:
    nonce, new = cookies.login_nonce(request)
    response = pages.render(
        "login.html", status, message=message, username=username, csrf_token=csrf.login_token(nonce)
    )
    if new:
        cookies.set_login_nonce(response, nonce)
    return response


@router.get("/login")
def login_form(request: Request, platform: PlatformDep, ended: bool = False) -> Response:
    token = cookies.read(request, cookies.SESSION_COOKIE)
    if token is not None:
        try:
            platform.accounts.resolve_token(token)
            return RedirectResponse(f"{UI_PREFIX}/", status_code=303)
        except Unauthenticated:
            pass
    return _login_page(request, message="Your session has ended: sign in again." if ended else None)


@router.post("/login", dependencies=[AuthRateLimit])
def login(
    request: Request,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    totp_code: Annotated[str, Form(max_length=10)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_login_form(request, csrf_token)
    no_nul(username=username, password=password, totp_code=totp_code)
    return _sign_in(
        request,
        username,
        lambda: platform.accounts.login(
            username, password, totp_code, origin_of(request), kind=TokenKind.BROWSER
        ),
    )


def check_login_form(request: Request, csrf_token: str) -> None:
    """A sign-in form post: from this origin, with the token bound to this browser's login cookie."""
    csrf.check_same_origin(request)
    nonce = cookies.read(request, cookies.LOGIN_COOKIE)
    if nonce is None:
        raise Forbidden("the sign-in page has expired or cookies are off: reload it and try again")
    csrf.check_token(csrf_token, csrf.login_token(nonce))


def _sign_in(request: Request, username: str, attempt: Callable[[], IssuedToken]) -> Response:
    """The session cookie and the home page, or the sign-in page again with the one refusal
    every failure gets."""
    try:
        issued = attempt()
    except Unauthenticated:
        return _login_page(request, 401, SIGN_IN_REFUSED, username=username[:64])
    response = RedirectResponse(f"{UI_PREFIX}/", status_code=303)
    cookies.set_session(response, issued.token)
    return response


@router.post("/login/key/begin", dependencies=[AuthRateLimit])
def key_login_begin(
    request: Request,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=64)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> JSONResponse:
    """The challenge for a security key (the same kind of answer whether or not the user exists)."""
    check_login_form(request, csrf_token)
    no_nul(username=username)
    return ceremony_response(platform.security_keys.begin_login(username))


@router.post("/login/key", dependencies=[AuthRateLimit])
def key_login(
    request: Request,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    challenge_id: Annotated[uuid.UUID, Form()],
    credential: Annotated[str, Form(max_length=8192)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Password and the key's answer (the page's script fills ``credential``): a browser session."""
    check_login_form(request, csrf_token)
    no_nul(username=username, password=password, credential=credential)
    answer = parse_credential(credential)
    return _sign_in(
        request,
        username,
        lambda: platform.security_keys.finish_login(
            username, password, challenge_id, answer, origin_of(request), kind=TokenKind.BROWSER
        ),
    )


@router.post("/logout")
def logout(session: CheckedPost, platform: PlatformDep) -> Response:
    """End the session: its token is revoked on the server, not only forgotten by the browser."""
    assert session.account.token_id is not None
    platform.accounts.revoke_token(session.ctx, session.account.token_id)
    response = RedirectResponse(f"{UI_PREFIX}/login", status_code=303)
    cookies.clear_session(response)
    return response
