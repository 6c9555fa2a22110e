"""Who is signed in to the browser UI: the session cookie, resolved like any token (expiry, idle
timeout, revocation), but only a browser session (from the UI's sign-in page) is accepted from the
cookie: never an API session or a script token, and the API refuses the browser's token in turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from labvault.errors import Unauthenticated
from labvault.identity.accounts import Account, TokenKind, context_for
from labvault.security.access import AccessContext
from labvault.web.deps import PlatformDep, origin_of
from labvault.web.ui import cookies, csrf


@dataclass(frozen=True)
class UiSession:
    account: Account
    ctx: AccessContext
    csrf_token: str  # for the forms of the pages of this session


def ui_session(request: Request, platform: PlatformDep) -> UiSession:
    csrf.check_own_navigation(request)
    token = cookies.read(request, cookies.SESSION_COOKIE)
    if token is None:
        raise Unauthenticated("sign in first")
    account = platform.accounts.resolve_token(token)
    if account.token_kind is not TokenKind.BROWSER:
        raise Unauthenticated("only a session opened on the sign-in page signs in to the browser UI")
    ctx = context_for(account, origin=origin_of(request))
    request.state.access_context = ctx  # who a refusal is audited for (web/errors.py)
    return UiSession(account, ctx, csrf.session_token(token))


UiSessionDep = Annotated[UiSession, Depends(ui_session)]


async def checked_post(request: Request, session: UiSessionDep) -> UiSession:
    """The session of a state-changing request that came from this origin with the session's token."""
    csrf.check_same_origin(request)
    form = await request.form()
    sent = form.get(csrf.CSRF_FIELD)
    csrf.check_token(sent if isinstance(sent, str) else None, session.csrf_token)
    return session


CheckedPost = Annotated[UiSession, Depends(checked_post)]
