"""Request dependencies: the platform, and the authenticated caller as an AccessContext."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from labvault.errors import InvalidInput, Unauthenticated
from labvault.identity.account_service import Account, context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose

bearer = HTTPBearer(
    auto_error=False, description="An API token from /api/v1/auth/login or `labvault token create`"
)


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def origin_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def current_account(
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Account:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required")
    return platform.accounts.resolve_token(credentials.credentials)


CurrentAccount = Annotated[Account, Depends(current_account)]


def access_context(
    request: Request,
    account: CurrentAccount,
    x_purpose: Annotated[
        str | None,
        Header(max_length=32, description="Why: care (default), identity_vigilance, administration"),
    ] = None,
) -> AccessContext:
    try:
        purpose = Purpose(x_purpose) if x_purpose else Purpose.CARE
    except ValueError:
        raise InvalidInput(
            "X-Purpose", f"unknown purpose; one of {', '.join(p.value for p in Purpose)}"
        ) from None
    return context_for(account, purpose, origin_of(request))


Ctx = Annotated[AccessContext, Depends(access_context)]
