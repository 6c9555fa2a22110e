"""Login (the only API route besides /healthz that needs no token), tokens, and who am I."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Request, status

from labvault.web.deps import Ctx, CurrentAccount, PlatformDep, origin_of
from labvault.web.schemas import LoginIn, MeOut, TokenIn, TokenOut

router = APIRouter(tags=["auth"])


@router.post("/auth/login", response_model=TokenOut, openapi_extra={"security": []})
def login(body: LoginIn, request: Request, platform: PlatformDep) -> TokenOut:
    """Exchange a username and password for a short-lived bearer token."""
    origin = origin_of(request)
    account = platform.accounts.authenticate_password(body.username, body.password, origin)
    ttl = dt.timedelta(hours=platform.settings.token_ttl_hours)
    issued = platform.accounts.issue_token(account, "login", ttl, origin)
    return TokenOut(token_id=issued.id, access_token=issued.token, expires_at=issued.expires_at)


@router.get("/me", response_model=MeOut)
def me(account: CurrentAccount) -> MeOut:
    return MeOut(id=account.id, username=account.username, role=account.role, lab_id=account.lab_id)


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenIn, account: CurrentAccount, request: Request, platform: PlatformDep) -> TokenOut:
    """A new token for the caller (e.g. for a script), shown once."""
    issued = platform.accounts.issue_token(
        account, body.label, dt.timedelta(hours=body.ttl_hours), origin_of(request)
    )
    return TokenOut(token_id=issued.id, access_token=issued.token, expires_at=issued.expires_at)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> None:
    platform.accounts.revoke_token(ctx, token_id)
