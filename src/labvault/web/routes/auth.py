"""Sign-in (login and MFA enrolment are the only API routes besides /healthz that need no token),
re-authentication, password change, tokens, account administration, and who am I."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from labvault.identity.account_actions import AccountAction
from labvault.identity.sign_in import IssuedToken
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
    AccountActionOut,
    InitialPasswordIn,
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


@router.post(
    "/auth/password/initial",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra=PUBLIC,
    dependencies=[AuthRateLimit],
)
def set_initial_password(body: InitialPasswordIn, request: Request, platform: PlatformDep) -> None:
    """A password set by your administrator works once, only here: replace it with your own, then
    enrol your authenticator (a new account) or sign in. Refusals are the login's 401."""
    platform.accounts.set_own_password(
        body.username, body.password, body.new_password, body.totp_code, origin_of(request)
    )


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


def action_out(action: AccountAction) -> AccountActionOut:
    return AccountActionOut(**vars(action))


@router.post(
    "/users/{user_id}/mfa/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[RequireRecentAuth],
    responses={202: {"model": AccountActionOut, "description": "an operator's request, pending"}},
)
def reset_mfa(user_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> Response:
    """Forget a user's TOTP secret (lost phone; re-authentication required): they enrol again
    with their own password. An operator resetting a lab admin of a lab with an established
    admin gets 202 and a pending request, alerted to the lab, which may cancel it; the same call
    after ``effective_at`` applies it."""
    pending = platform.accounts.reset_mfa(ctx, user_id)
    if pending is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return JSONResponse(action_out(pending).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


@router.get("/account-actions", response_model=list[AccountActionOut])
def list_account_actions(ctx: Ctx, platform: PlatformDep) -> list[AccountActionOut]:
    """Lab admins: the platform's requests on the lab's accounts, newest first."""
    return [action_out(action) for action in platform.account_actions.list(ctx)]


@router.post("/account-actions/{action_id}/cancel", response_model=AccountActionOut)
def cancel_account_action(action_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> AccountActionOut:
    """Lab admins (the target included): stop a pending platform request; 409 once decided."""
    return action_out(platform.account_actions.cancel(ctx, action_id))
