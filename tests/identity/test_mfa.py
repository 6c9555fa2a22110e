"""TOTP enrolment and codes at the service level: enrolment in two steps, single-use codes (no
replay within the window), drift window, the secret sealed to its row, admin reset."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from labvault.crypto.errors import IntegrityError
from labvault.errors import Forbidden, NotFound, Unauthenticated
from labvault.identity.accounts import context_for
from labvault.identity.credentials import AUTH_FAILED
from labvault.identity.models import User
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from labvault.security.totp import code_at_step, provisioning_uri, step_of
from tests.auth_helpers import Authenticator, FakeClock, enroll, with_clock
from tests.factories import TEST_PASSWORD, Factory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked(platform: Platform, clock: FakeClock) -> Platform:
    return with_clock(platform, clock)


def _user_row(platform: Platform, username: str) -> User:
    with platform.db.transaction(None) as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


def test_enrolment_then_login(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    account = factory.user(factory.lab(), Role.TECHNICIAN)
    enrollment = clocked.accounts.mfa.begin_enrollment(account.username, TEST_PASSWORD)
    assert enrollment.uri == provisioning_uri(enrollment.secret, account.username, "labvault")
    assert enrollment.uri.startswith("otpauth://totp/labvault:") and "secret=" in enrollment.uri
    assert len(enrollment.secret) == 32
    assert clocked.accounts.by_username(account.username).mfa_enabled is False
    app = Authenticator(enrollment.secret, clock)
    clocked.accounts.mfa.confirm_enrollment(account.username, TEST_PASSWORD, app.code())
    assert clocked.accounts.by_username(account.username).mfa_enabled is True
    signed_in = clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code())
    assert signed_in.id == account.id and signed_in.mfa_enabled


def test_a_user_without_mfa_cannot_sign_in(clocked: Platform) -> None:
    factory = Factory(clocked)
    account = factory.user(factory.lab(), Role.BIOLOGIST)
    with pytest.raises(Unauthenticated, match="not enrolled") as refused:
        clocked.accounts.authenticate(account.username, TEST_PASSWORD, "123456")
    assert str(refused.value) == AUTH_FAILED
    # Started but not confirmed is not enrolled either, even with the right code.
    secret = clocked.accounts.mfa.begin_enrollment(account.username, TEST_PASSWORD).secret
    code = code_at_step(secret, step_of(clocked.accounts.clock()))
    with pytest.raises(Unauthenticated):
        clocked.accounts.authenticate(account.username, TEST_PASSWORD, code)
    with pytest.raises(Unauthenticated):
        clocked.accounts.login(account.username, TEST_PASSWORD, code)


def test_enrolment_cannot_be_confirmed_with_a_wrong_code(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    account = factory.user(factory.lab(), Role.TECHNICIAN)
    secret = clocked.accounts.mfa.begin_enrollment(account.username, TEST_PASSWORD).secret
    app = Authenticator(secret, clock)
    right = app.code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for bad in (wrong, "abcdef", right[:5]):  # four failures in all: one short of a lockout
        with pytest.raises(Unauthenticated):
            clocked.accounts.mfa.confirm_enrollment(account.username, TEST_PASSWORD, bad)
    with pytest.raises(Unauthenticated):  # the right code with a wrong password
        clocked.accounts.mfa.confirm_enrollment(account.username, TEST_PASSWORD + "!", right)
    assert clocked.accounts.by_username(account.username).mfa_enabled is False
    clocked.accounts.mfa.confirm_enrollment(account.username, TEST_PASSWORD, right)
    assert clocked.accounts.by_username(account.username).mfa_enabled is True


def test_starting_again_replaces_a_pending_secret_but_not_an_active_one(
    clocked: Platform, clock: FakeClock
) -> None:
    factory = Factory(clocked)
    account = factory.user(factory.lab(), Role.TECHNICIAN)
    first = clocked.accounts.mfa.begin_enrollment(account.username, TEST_PASSWORD).secret
    second = clocked.accounts.mfa.begin_enrollment(account.username, TEST_PASSWORD).secret
    assert first != second
    with pytest.raises(Unauthenticated):
        clocked.accounts.mfa.confirm_enrollment(
            account.username, TEST_PASSWORD, Authenticator(first, clock).code()
        )
    app = Authenticator(second, clock)
    clocked.accounts.mfa.confirm_enrollment(account.username, TEST_PASSWORD, app.code())
    # Active: nobody who knows the password can swap in their own authenticator.
    with pytest.raises(Unauthenticated):
        clocked.accounts.mfa.begin_enrollment(account.username, TEST_PASSWORD)
    clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code())


def test_a_code_works_once(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    account = factory.user(factory.lab(), Role.RECEPTION)
    app = enroll(clocked.accounts, account.username)
    clock.advance(seconds=90)  # well past the confirmation code's window
    code = app.code()
    clocked.accounts.login(account.username, TEST_PASSWORD, code)
    with pytest.raises(Unauthenticated):  # the same code again, within its 30 seconds
        clocked.accounts.login(account.username, TEST_PASSWORD, code)
    clock.advance(seconds=20)
    with pytest.raises(Unauthenticated):  # still inside the drift window: still refused
        clocked.accounts.authenticate(account.username, TEST_PASSWORD, code)
    # An older step, still inside the drift window, is refused once a later one was used.
    with pytest.raises(Unauthenticated):
        clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code_for_step(-1))
    clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code_for_step(+1))
    with pytest.raises(Unauthenticated):  # a later step was used: the current one is spent too
        clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code_for_step(0))


def test_one_step_of_drift_is_allowed_two_are_not(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    account = factory.user(factory.lab(), Role.RECEPTION)
    app = enroll(clocked.accounts, account.username)
    clock.advance(minutes=10)
    with pytest.raises(Unauthenticated):
        clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code_for_step(-2))
    with pytest.raises(Unauthenticated):
        clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code_for_step(+2))
    clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code_for_step(-1))
    clocked.accounts.authenticate(account.username, TEST_PASSWORD, app.code_for_step(+1))
    clock.advance(minutes=2)
    spaced = app.code_for_step(0)
    clocked.accounts.authenticate(account.username, TEST_PASSWORD, f"{spaced[:3]} {spaced[3:]}")


def test_the_secret_is_sealed_and_bound_to_its_row(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    lab = factory.lab()
    alice, bob = factory.user(lab, Role.TECHNICIAN), factory.user(lab, Role.TECHNICIAN)
    app_a = enroll(clocked.accounts, alice.username)
    enroll(clocked.accounts, bob.username)
    sealed = _user_row(clocked, alice.username).totp_secret_sealed
    assert sealed is not None and app_a.secret.encode() not in sealed
    with clocked.db.engine.connect() as conn:
        dumped = b"".join(
            bytes(v) for v in conn.execute(select(User.__table__.c.totp_secret_sealed)).scalars() if v
        )
    assert app_a.secret.encode() not in dumped
    # Bob's row given Alice's sealed secret: it does not open, nobody signs in with it.
    with clocked.db.engine.begin() as conn:
        conn.execute(update(User).where(User.id == bob.id).values(totp_secret_sealed=sealed))
    clock.advance(minutes=2)
    with pytest.raises(IntegrityError, match=r"users\.totp_secret_sealed"):
        clocked.accounts.authenticate(bob.username, TEST_PASSWORD, app_a.code())


def test_admin_reset_lets_the_user_enrol_again(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    lab, other_lab = factory.lab(), factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    staff = factory.user(lab, Role.BIOLOGIST)
    old_app = enroll(clocked.accounts, staff.username)
    token = clocked.accounts.login(staff.username, TEST_PASSWORD, old_app.code())
    outsider = context_for(factory.user(other_lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION)
    with pytest.raises(NotFound):
        clocked.accounts.reset_mfa(outsider, staff.id)
    with pytest.raises(Forbidden):
        clocked.accounts.reset_mfa(context_for(factory.user(lab, Role.BIOLOGIST)), staff.id)
    clocked.accounts.reset_mfa(context_for(admin, Purpose.ADMINISTRATION), staff.id)
    with pytest.raises(Unauthenticated):
        clocked.accounts.resolve_token(token.token)
    clock.advance(minutes=1)
    with pytest.raises(Unauthenticated):
        clocked.accounts.authenticate(staff.username, TEST_PASSWORD, old_app.code())
    new_app = enroll(clocked.accounts, staff.username)
    assert new_app.secret != old_app.secret
    clocked.accounts.authenticate(staff.username, TEST_PASSWORD, new_app.code())


def test_operators_reset_only_lab_admins_of_a_lab(clocked: Platform) -> None:
    from tests.factories import cli_ctx

    factory = Factory(clocked)
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    staff = factory.user(lab, Role.RECEPTION)
    with pytest.raises(Forbidden):
        clocked.accounts.reset_mfa(cli_ctx(), staff.id)
    clocked.accounts.reset_mfa(cli_ctx(), admin.id)
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    clocked.accounts.reset_mfa(cli_ctx(), operator.id)
    with pytest.raises(NotFound):
        clocked.accounts.reset_mfa(context_for(admin, Purpose.ADMINISTRATION), operator.id)


def test_the_same_code_in_concurrent_logins_works_once(clocked: Platform, clock: FakeClock) -> None:
    factory = Factory(clocked)
    account = factory.user(factory.lab(), Role.RECEPTION)
    app = enroll(clocked.accounts, account.username)
    clock.advance(minutes=1)
    code = app.code()
    start = threading.Barrier(3)

    def attempt() -> bool:
        start.wait()
        try:
            clocked.accounts.login(account.username, TEST_PASSWORD, code)
        except Unauthenticated:
            return False
        return True

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda _: attempt(), range(3)))
    assert sorted(outcomes) == [False, False, True]
