"""Sign-in (login and MFA enrolment are the only API routes besides /healthz that need no token),
re-authentication, password change, tokens, account administration, and who am I."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request, status

from labvault.identity.account_service import IssuedToken
from labvault.web.deps import (
    AuthRateLimit,
    Ctx,
    CurrentAccount,
    PlatformDep,
    RecentAccount,
    RequireRecentAuth,
    origin_of,
)
from labvault.web.schemas import (
    LoginIn,
    MeOut,
    MfaConfirmIn,
    MfaEnrollIn,
    MfaEnrollOut,
    PasswordChangeIn,
    ReauthIn,
    ReauthOut,
    TokenIn,
    TokenOut,
    UserOut,
    UserPatch,
)

router = APIRouter(tags=["auth"])
PUBLIC: dict[str, Any] = {"security": []}


def token_out(issued: IssuedToken) -> TokenOut:
    return TokenOut(
        token_id=issued.id, access_token=issued.token, expires_at=issued.expires_at, kind=issued.kind.value
    )


@router.post("/auth/login", response_model=TokenOut, openapi_extra=PUBLIC, dependencies=[AuthRateLimit])
def login(body: LoginIn, request: Request, platform: PlatformDep) -> TokenOut:
    """Username, password and the authenticator app's current code for a session token. Every
    refusal (unknown user, wrong password or code, locked, disabled, not enrolled) is the same 401;
    repeated failures lock the account for a while."""
    return token_out(
        platform.accounts.login(body.username, body.password, body.totp_code, origin_of(request))
    )


@router.post(
    "/auth/mfa/enroll", response_model=MfaEnrollOut, openapi_extra=PUBLIC, dependencies=[AuthRateLimit]
)
def mfa_enroll(body: MfaEnrollIn, request: Request, platform: PlatformDep) -> MfaEnrollOut:
    """Step 1 of enrolment (accounts without active MFA): a new TOTP secret, shown once."""
    enrollment = platform.accounts.mfa.begin_enrollment(body.username, body.password, origin_of(request))
    return MfaEnrollOut(
        otpauth_uri=enrollment.uri,
        secret=enrollment.secret,
        digits=enrollment.digits,
        period=enrollment.period,
    )


@router.post(
    "/auth/mfa/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra=PUBLIC,
    dependencies=[AuthRateLimit],
)
def mfa_confirm(body: MfaConfirmIn, request: Request, platform: PlatformDep) -> None:
    """Step 2: a first code from the app activates MFA; then log in."""
    platform.accounts.mfa.confirm_enrollment(body.username, body.password, body.totp_code, origin_of(request))


@router.post("/auth/reauth", response_model=ReauthOut, dependencies=[AuthRateLimit])
def reauth(body: ReauthIn, account: CurrentAccount, request: Request, platform: PlatformDep) -> ReauthOut:
    """Prove both factors again: sensitive actions with this token are allowed for a few minutes."""
    at = platform.accounts.reauthenticate(account, body.password, body.totp_code, origin_of(request))
    return ReauthOut(reauthenticated_at=at, valid_until=at + platform.accounts.policy.reauth_max_age)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT, dependencies=[AuthRateLimit])
def change_password(
    body: PasswordChangeIn, account: CurrentAccount, request: Request, platform: PlatformDep
) -> None:
    """Change your own password; every token of yours is revoked, this one included."""
    platform.accounts.change_password(
        account, body.current_password, body.totp_code, body.new_password, origin_of(request)
    )


@router.get("/me", response_model=MeOut)
def me(account: CurrentAccount) -> MeOut:
    return MeOut(
        id=account.id,
        username=account.username,
        role=account.role,
        lab_id=account.lab_id,
        physician_id=account.physician_id,
    )


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenIn, account: RecentAccount, request: Request, platform: PlatformDep) -> TokenOut:
    """A script token for the caller, shown once (re-authentication required): it expires only at
    its end of life, never outliving the token that created it."""
    issued = platform.accounts.issue_token(
        account, body.label, dt.timedelta(hours=body.ttl_hours), origin_of(request)
    )
    return token_out(issued)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> None:
    platform.accounts.revoke_token(ctx, token_id)


@router.patch("/users/{user_id}", response_model=UserOut, dependencies=[RequireRecentAuth])
def update_user(user_id: uuid.UUID, body: UserPatch, ctx: Ctx, platform: PlatformDep) -> UserOut:
    """Change a user's role or (de)activate them (re-authentication required); every token of the
    user is revoked."""
    account = platform.accounts.update_user(ctx, user_id, role=body.role, active=body.active)
    return UserOut.of(account)


@router.post(
    "/users/{user_id}/mfa/reset", status_code=status.HTTP_204_NO_CONTENT, dependencies=[RequireRecentAuth]
)
def reset_mfa(user_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> None:
    """Forget a user's TOTP secret (lost phone; re-authentication required): they enrol again."""
    platform.accounts.reset_mfa(ctx, user_id)
