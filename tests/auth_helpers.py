"""Test helpers for sign-in: an injectable clock, an authenticator app, enrolment, and shortcuts
for tests that are about something else than authentication."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update

from labvault.identity.account_actions import AccountActionService
from labvault.identity.account_service import AccountService
from labvault.identity.accounts import Account
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.models import ApiToken, User
from labvault.platform import Platform
from labvault.security.tokens import token_digest
from labvault.security.totp import STEP_SECONDS, code_at_step, step_of
from labvault.store.base import utcnow
from tests.factories import TEST_PASSWORD


class FakeClock:
    """A clock tests move by hand (lockout periods, idle sessions, code steps) instead of sleeping."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Authenticator:
    """A user's authenticator app: hands out codes the server accepts, each for a later time step
    than the last one (codes are single-use). With a :class:`FakeClock` it moves the clock on when
    the drift window is used up; with the real clock it waits (rarely needed: two codes at once)."""

    secret: str
    clock: Callable[[], dt.datetime] = utcnow
    last_step: int | None = None

    def code(self) -> str:
        now_step = step_of(self.clock())
        # Never the previous step: the server's clock may cross a step boundary before it checks.
        step = now_step if self.last_step is None else max(self.last_step + 1, now_step)
        if step > now_step + 1:
            wait = (step - 1 - now_step) * STEP_SECONDS
            if isinstance(self.clock, FakeClock):
                self.clock.advance(seconds=wait)
            else:
                time.sleep((step - 1) * STEP_SECONDS - time.time() + 0.05)
        self.last_step = step
        return code_at_step(self.secret, step)

    def code_for_step(self, offset: int) -> str:
        """The code of the step ``offset`` steps away from now (for replay and drift tests)."""
        return code_at_step(self.secret, step_of(self.clock()) + offset)

    def forget(self) -> None:
        """Start over after :func:`forget_code_use` cleared the server's record."""
        self.last_step = None


def enroll(accounts: AccountService, username: str, password: str = TEST_PASSWORD) -> Authenticator:
    """Enrol ``username`` in TOTP through the service (both steps) and return their app."""
    secret = accounts.mfa.begin_enrollment(username, password, "test").secret
    app = Authenticator(secret, accounts.clock)
    accounts.mfa.confirm_enrollment(username, password, app.code(), "test")
    return app


def with_clock(
    platform: Platform, clock: Callable[[], dt.datetime], policy: AuthPolicy | None = None
) -> Platform:
    """The same platform (database, keys) whose account service reads ``clock`` (and ``policy``)."""
    accounts = AccountService(platform.db, platform.keys, policy or platform.accounts.policy, clock)
    return dataclasses.replace(
        platform, accounts=accounts, account_actions=AccountActionService(platform.db, clock)
    )


def login_body(account: Account | str, app: Authenticator, password: str = TEST_PASSWORD) -> dict[str, str]:
    username = account if isinstance(account, str) else account.username
    return {"username": username, "password": password, "totp_code": app.code()}


def mark_reauthenticated(platform: Platform, token: str, at: dt.datetime | None = None) -> None:
    """As if ``POST /auth/reauth`` had just succeeded with ``token``: for tests of other features
    behind re-authentication (the re-authentication itself is tested in test_sessions_api)."""
    with platform.db.engine.begin() as conn:
        conn.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == token_digest(token))
            .values(reauthenticated_at=at or utcnow())
        )


def forget_code_use(platform: Platform, username: str) -> None:
    """Clear the record of the last code a user used, so that a test can send the same login body
    again (the isolation matrix sends one request per kind of caller, replay is tested elsewhere)."""
    with platform.db.engine.begin() as conn:
        conn.execute(update(User).where(User.username == username).values(totp_last_step=None))


class AuthenticatorPool:
    """The authenticator apps of the accounts a test signs in with (each enrolled on first use),
    for tests about something else than codes: every code is given as if none had been used
    before, so that they never wait for the next 30-second step (replay: test_mfa*)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._apps: dict[str, Authenticator] = {}

    def app(self, username: str) -> Authenticator:
        if username not in self._apps:
            self._apps[username] = enroll(self.platform.accounts, username)
        return self._apps[username]

    def fresh_code(self, account: Account | str) -> str:
        username = account if isinstance(account, str) else account.username
        app = self.app(username)
        forget_code_use(self.platform, username)
        app.forget()
        return app.code()


_POOLS: dict[int, AuthenticatorPool] = {}


def pool_for(platform: Platform) -> AuthenticatorPool:
    """The one pool of apps per platform: two pools would enrol the same account twice."""
    return _POOLS.setdefault(id(platform), AuthenticatorPool(platform))
