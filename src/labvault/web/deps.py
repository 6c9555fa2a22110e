"""Request dependencies: the platform, the authenticated caller (as an Account or an AccessContext),
recent re-authentication for sensitive routes, and the rate limit of password-taking routes."""

from __future__ import annotations

import math
import uuid
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from labvault.errors import InvalidInput, Unauthenticated
from labvault.identity.accounts import Account, TokenKind, context_for
from labvault.identity.reauth import require_recent_auth
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
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Account:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required")
    account = platform.accounts.resolve_token(credentials.credentials)
    if account.token_kind is TokenKind.BROWSER:
        # A browser's session lives in its HttpOnly cookie; out of it, it was taken from there.
        raise Unauthenticated("a browser session is valid in the browser UI only")
    request.state.account = account  # who a refusal is audited for (web/errors.py)
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]


def recent_account(account: CurrentAccount, platform: PlatformDep) -> Account:
    """The caller, who must have proven both factors on this token within the last minutes
    (403 naming ``POST /api/v1/auth/reauth`` otherwise): for sensitive actions."""
    accounts = platform.accounts
    require_recent_auth(account, accounts.policy.reauth_max_age, accounts.clock())
    return account


RecentAccount = Annotated[Account, Depends(recent_account)]
RequireRecentAuth = Depends(recent_account)  # for a route's ``dependencies=[...]``


def auth_rate_limit(request: Request, platform: PlatformDep) -> None:
    """Per-origin limit on the routes that take a password (429 with Retry-After), counted in the
    database so that every server worker counts the same hits (security/rate_limit.py)."""
    retry_after = platform.login_limit.hit(origin_of(request))
    if retry_after is not None:
        raise HTTPException(
            status_code=429,
            detail="too many authentication attempts from this address; retry later",
            headers={"Retry-After": str(math.ceil(retry_after))},
        )


AuthRateLimit = Depends(auth_rate_limit)


def access_context(
    request: Request,
    account: CurrentAccount,
    platform: PlatformDep,
    x_purpose: Annotated[
        str | None,
        Header(max_length=32, description="Why: care (default), identity_vigilance, administration"),
    ] = None,
    x_support_lab: Annotated[
        uuid.UUID | None,
        Header(description="Platform operators: act in this lab under its admin's support grant"),
    ] = None,
) -> AccessContext:
    try:
        purpose = Purpose(x_purpose) if x_purpose else Purpose.CARE
    except ValueError:
        raise InvalidInput(
            "X-Purpose", f"unknown purpose; one of {', '.join(p.value for p in Purpose)}"
        ) from None
    ctx = context_for(account, purpose, origin_of(request))
    request.state.access_context = ctx  # a refused support entry is the operator's own refusal
    if x_support_lab:
        ctx = platform.support.enter(ctx, x_support_lab)
        request.state.access_context = ctx
    return ctx


Ctx = Annotated[AccessContext, Depends(access_context)]
