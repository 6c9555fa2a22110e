"""The two cookies of the browser UI and their attributes.

``__Host-`` names make the browser refuse them unless they are Secure, set by this host itself
(no Domain) and for the whole site (Path=/): no subdomain or plain-HTTP page can plant or
overwrite them (session fixation). HttpOnly keeps them from scripts; SameSite=Strict keeps them
off every request started by another site. No Max-Age: they end with the browser, and the server
ends the session itself (idle 30 min, absolute 8 h, logout, revocation)."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "__Host-labvault-session"
# Before sign-in: a random value the login form's CSRF token is bound to (login CSRF).
LOGIN_COOKIE = "__Host-labvault-login"
MAX_COOKIE_CHARS = 200  # a token is 47 characters; anything much longer is not ours


def _set(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="strict")


def _clear(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


def read(request: Request, name: str) -> str | None:
    value = request.cookies.get(name)
    if not value or len(value) > MAX_COOKIE_CHARS:
        return None
    return value


def set_session(response: Response, token: str) -> None:
    _set(response, SESSION_COOKIE, token)
    _clear(response, LOGIN_COOKIE)


def clear_session(response: Response) -> None:
    _clear(response, SESSION_COOKIE)


def login_nonce(request: Request) -> tuple[str, bool]:
    """The pre-sign-in value of this browser, and whether it is new (then :func:`set_login_nonce`)."""
    nonce = read(request, LOGIN_COOKIE)
    return (nonce, False) if nonce is not None else (secrets.token_urlsafe(32), True)


def set_login_nonce(response: Response, nonce: str) -> None:
    _set(response, LOGIN_COOKIE, nonce)
