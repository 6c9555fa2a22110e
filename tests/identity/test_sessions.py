"""Sessions at the service level: login tokens expire when idle and at their end of life, script
tokens only at their end of life; last use is written at most once a minute; a password change,
a role change or a deactivation revokes every token of the user; re-authentication is stamped on
the token and required by ``require_recent_auth``."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from labvault.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from labvault.identity.accounts import Account, TokenKind, context_for
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.models import ApiToken
from labvault.identity.reauth import ReauthenticationRequired, require_recent_auth
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from tests.auth_helpers import Authenticator, FakeClock, enroll, with_clock
from tests.factories import TEST_PASSWORD, Factory, cli_ctx

POLICY = AuthPolicy(session_idle=dt.timedelta(minutes=30), session_lifetime=dt.timedelta(hours=8))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked(platform: Platform, clock: FakeClock) -> Platform:
    return with_clock(platform, clock, POLICY)


def _enrolled(platform: Platform, role: Role = Role.TECHNICIAN) -> tuple[Account, Authenticator]:
    factory = Factory(platform)
    account = factory.user(factory.lab(), role)
    return account, enroll(platform.accounts, account.username)


def _last_used(platform: Platform, token_id: object) -> dt.datetime | None:
    with platform.db.transaction(None) as session:
        return session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))


def test_a_login_session_expires_after_idling(clocked: Platform, clock: FakeClock) -> None:
    account, app = _enrolled(clocked)
    session = clocked.accounts.login(account.username, TEST_PASSWORD, app.code())
    assert session.kind is TokenKind.SESSION
    for _ in range(10):  # used every 29 minutes: kept alive well past 30 minutes
        clock.advance(minutes=29)
        assert clocked.accounts.resolve_token(session.token).token_kind is TokenKind.SESSION
    clock.advance(minutes=30, seconds=1)
    with pytest.raises(Unauthenticated, match="without use"):
        clocked.accounts.resolve_token(session.token)


def test_a_login_session_ends_at_its_absolute_lifetime_even_in_use(
    clocked: Platform, clock: FakeClock
) -> None:
    account, app = _enrolled(clocked)
    session = clocked.accounts.login(account.username, TEST_PASSWORD, app.code())
    assert session.expires_at == clock.now + dt.timedelta(hours=8)
    for _ in range(16):
        clock.advance(minutes=29, seconds=50)
        clocked.accounts.resolve_token(session.token)
    clock.advance(minutes=3)  # 8 h 0 min 20 s after login, last used 3 minutes ago
    with pytest.raises(Unauthenticated, match="expired or revoked"):
        clocked.accounts.resolve_token(session.token)


def test_script_tokens_have_no_idle_timeout(clocked: Platform, clock: FakeClock) -> None:
    account, _app = _enrolled(clocked)
    script = clocked.accounts.issue_token(account, "nightly export", dt.timedelta(days=3))
    assert script.kind is TokenKind.SCRIPT
    clock.advance(days=2)
    assert clocked.accounts.resolve_token(script.token).token_kind is TokenKind.SCRIPT
    clock.advance(days=1)
    with pytest.raises(Unauthenticated):
        clocked.accounts.resolve_token(script.token)


def test_last_use_is_written_at_most_once_a_minute(clocked: Platform, clock: FakeClock) -> None:
    account, app = _enrolled(clocked)
    session = clocked.accounts.login(account.username, TEST_PASSWORD, app.code())
    issued_at = clock.now
    assert _last_used(clocked, session.id) == issued_at
    for _ in range(5):
        clock.advance(seconds=10)
        clocked.accounts.resolve_token(session.token)
    assert _last_used(clocked, session.id) == issued_at
    clock.advance(seconds=10)  # a minute since the last write
    clocked.accounts.resolve_token(session.token)
    assert _last_used(clocked, session.id) == clock.now


def test_a_password_change_revokes_every_token(clocked: Platform, clock: FakeClock) -> None:
    account, app = _enrolled(clocked)
    accounts = clocked.accounts
    session = accounts.login(account.username, TEST_PASSWORD, app.code())
    script = accounts.issue_token(account, "script", dt.timedelta(days=30))
    caller = accounts.resolve_token(session.token)
    new_password = "un tout nouveau mot de passe"
    with pytest.raises(InvalidInput, match=r"^new_password: must be at least"):
        accounts.change_password(caller, TEST_PASSWORD, app.code(), "short")
    with pytest.raises(Unauthenticated):
        accounts.change_password(caller, "not my password", app.code(), new_password)
    assert accounts.resolve_token(script.token).id == account.id, "a refused change revokes nothing"
    assert accounts.change_password(caller, TEST_PASSWORD, app.code(), new_password) == 2
    for token in (session.token, script.token):
        with pytest.raises(Unauthenticated):
            accounts.resolve_token(token)
    with pytest.raises(Unauthenticated):
        accounts.authenticate(account.username, TEST_PASSWORD, app.code())
    accounts.authenticate(account.username, new_password, app.code())


def test_role_change_and_deactivation_revoke_every_token(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    lab = factory.lab()
    admin = context_for(factory.user(lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION)
    staff = factory.user(lab, Role.TECHNICIAN)
    app = enroll(clocked.accounts, staff.username)
    accounts = clocked.accounts
    before = accounts.login(staff.username, TEST_PASSWORD, app.code())
    changed = accounts.update_user(admin, staff.id, role=Role.BIOLOGIST)
    assert changed.role is Role.BIOLOGIST
    with pytest.raises(Unauthenticated):
        accounts.resolve_token(before.token)
    after = accounts.login(staff.username, TEST_PASSWORD, app.code())
    assert accounts.resolve_token(after.token).role is Role.BIOLOGIST
    unchanged = accounts.update_user(admin, staff.id, role=Role.BIOLOGIST)  # no change: nothing revoked
    assert unchanged.role is Role.BIOLOGIST and accounts.resolve_token(after.token).id == staff.id
    assert accounts.update_user(admin, staff.id, active=False).active is False
    with pytest.raises(Unauthenticated):
        accounts.resolve_token(after.token)
    clock.advance(minutes=1)
    with pytest.raises(Unauthenticated):
        accounts.authenticate(staff.username, TEST_PASSWORD, app.code())
    assert accounts.update_user(admin, staff.id, active=True).active is True
    accounts.authenticate(staff.username, TEST_PASSWORD, app.code())


def test_who_may_change_whom(clocked: Platform) -> None:
    factory = Factory(clocked)
    lab, other = factory.lab(), factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    admin_ctx = context_for(admin, Purpose.ADMINISTRATION)
    staff = factory.user(lab, Role.RECEPTION)
    foreign = factory.user(other, Role.RECEPTION)
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    accounts = clocked.accounts
    with pytest.raises(NotFound):  # another lab's account does not exist for this admin
        accounts.update_user(admin_ctx, foreign.id, active=False)
    with pytest.raises(NotFound):
        accounts.update_user(admin_ctx, operator.id, active=False)
    with pytest.raises(Forbidden):
        accounts.update_user(context_for(factory.user(lab, Role.BIOLOGIST)), staff.id, role=Role.LAB_ADMIN)
    with pytest.raises(Forbidden, match="yourself"):
        accounts.update_user(admin_ctx, admin.id, role=Role.RECEPTION)
    with pytest.raises(InvalidInput):
        accounts.update_user(admin_ctx, staff.id, role=Role.PLATFORM_OPERATOR)
    with pytest.raises(InvalidInput):
        accounts.update_user(admin_ctx, staff.id)
    with pytest.raises(Forbidden, match="first administrator"):  # operators take over no staff
        accounts.update_user(cli_ctx(), staff.id, role=Role.LAB_ADMIN)
    assert accounts.update_user(cli_ctx(), staff.id, active=False).active is False  # incident response
    assert accounts.update_user(cli_ctx(), operator.id, active=False).active is False
    assert (
        accounts.update_user(admin_ctx, staff.id, role=Role.TECHNICIAN, active=True).role is Role.TECHNICIAN
    )


def test_reauthentication_is_stamped_on_the_token(clocked: Platform, clock: FakeClock) -> None:
    account, app = _enrolled(clocked)
    accounts = clocked.accounts
    script = accounts.issue_token(account, "script", dt.timedelta(days=1))
    caller = accounts.resolve_token(script.token)
    with pytest.raises(ReauthenticationRequired, match="/auth/reauth"):
        require_recent_auth(caller, now=clock.now)
    with pytest.raises(Unauthenticated):
        accounts.reauthenticate(caller, TEST_PASSWORD, app.code_for_step(-7))
    at = accounts.reauthenticate(caller, TEST_PASSWORD, app.code())
    assert at == clock.now
    fresh = accounts.resolve_token(script.token)
    assert fresh.reauthenticated_at == at
    require_recent_auth(fresh, now=clock.now)
    clock.advance(minutes=4, seconds=59)
    require_recent_auth(fresh, now=clock.now)
    clock.advance(seconds=2)
    with pytest.raises(ReauthenticationRequired):
        require_recent_auth(accounts.resolve_token(script.token), now=clock.now)
    with pytest.raises(ReauthenticationRequired):  # a stamp from the future is not believed
        require_recent_auth(fresh, now=at - dt.timedelta(minutes=10))
    # The stamp belongs to that token only.
    other = accounts.resolve_token(accounts.issue_token(account, "other", dt.timedelta(days=1)).token)
    with pytest.raises(ReauthenticationRequired):
        require_recent_auth(other, now=clock.now)


def test_a_login_counts_as_a_fresh_authentication_for_a_few_minutes(
    clocked: Platform, clock: FakeClock
) -> None:
    account, app = _enrolled(clocked)
    session = clocked.accounts.login(account.username, TEST_PASSWORD, app.code())
    require_recent_auth(clocked.accounts.resolve_token(session.token), now=clock.now)
    clock.advance(minutes=6)
    with pytest.raises(ReauthenticationRequired):
        require_recent_auth(clocked.accounts.resolve_token(session.token), now=clock.now)


def test_tokens_are_counted_in_the_database(clocked: Platform) -> None:
    """Sanity: revocation marks rows, it does not delete them (the audit names token ids)."""
    account, app = _enrolled(clocked)
    clocked.accounts.login(account.username, TEST_PASSWORD, app.code())
    clocked.accounts.update_user(cli_ctx(), account.id, active=False)
    with clocked.db.transaction(None) as session:
        total, revoked = session.execute(
            select(func.count(), func.count(ApiToken.revoked_at)).where(ApiToken.user_id == account.id)
        ).one()
    assert total == revoked == 1
