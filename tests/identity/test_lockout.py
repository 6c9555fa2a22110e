"""Lockout and user enumeration at the service level: consecutive failures (wrong password or
wrong code) lock an account for a while; every refusal is the same error after the same Argon2
work; failures are audited without what was typed."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from labvault.errors import Unauthenticated
from labvault.identity import credentials
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.credentials import AUTH_FAILED
from labvault.identity.models import User
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.models import PLATFORM_CHAIN, AuditEvent
from tests.auth_helpers import Authenticator, FakeClock, enroll, with_clock
from tests.factories import TEST_PASSWORD, Factory

POLICY = AuthPolicy(max_failures=3, lockout=dt.timedelta(minutes=15))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked(platform: Platform, clock: FakeClock) -> Platform:
    return with_clock(platform, clock, POLICY)


def _enrolled(platform: Platform, role: Role = Role.TECHNICIAN) -> tuple[uuid.UUID, str, Authenticator]:
    factory = Factory(platform)
    account = factory.user(factory.lab(), role)
    return account.id, account.username, enroll(platform.accounts, account.username)


def _refused(action: Callable[[], object]) -> str:
    with pytest.raises(Unauthenticated) as refused:
        action()
    return str(refused.value)


def _events(platform: Platform, chain: str, action: str) -> list[AuditEvent]:
    with platform.db.transaction(None, unscoped=True) as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == chain, AuditEvent.action == action)
            .order_by(AuditEvent.chain_seq)
        ).all()
        return list(rows)


def test_wrong_codes_and_passwords_lock_the_account_then_it_unlocks(
    clocked: Platform, clock: FakeClock
) -> None:
    user_id, username, app = _enrolled(clocked)
    accounts = clocked.accounts
    used = app.code()
    accounts.authenticate(username, TEST_PASSWORD, used)
    # Three refusals in a row (the policy's maximum): wrong password, wrong code, replayed code.
    _refused(lambda: accounts.authenticate(username, TEST_PASSWORD + "x", app.code()))
    _refused(lambda: accounts.authenticate(username, TEST_PASSWORD, app.code_for_step(-5)))
    _refused(lambda: accounts.authenticate(username, TEST_PASSWORD, used))
    # Locked: even both right factors are refused, with the same message.
    assert _refused(lambda: accounts.login(username, TEST_PASSWORD, app.code())) == AUTH_FAILED
    clock.advance(minutes=14)
    _refused(lambda: accounts.authenticate(username, TEST_PASSWORD, app.code()))
    clock.advance(minutes=1, seconds=1)
    assert accounts.authenticate(username, TEST_PASSWORD, app.code()).id == user_id
    failed = _events(clocked, _chain_of(clocked, user_id), "auth.login_failed")
    reasons = [e.detail["reason"] for e in failed]
    assert reasons == ["password", "code", "code_replayed", "locked", "locked"]
    with clocked.db.transaction(None) as session:
        row = session.get(User, user_id)
        assert row is not None and row.failed_logins == 0 and row.locked_until is None


def _chain_of(platform: Platform, user_id: uuid.UUID) -> str:
    with platform.db.transaction(None) as session:
        row = session.get(User, user_id)
        assert row is not None and row.lab_id is not None
        return str(row.lab_id)


def test_a_success_resets_the_count(clocked: Platform) -> None:
    _user_id, username, app = _enrolled(clocked)
    accounts = clocked.accounts
    for _ in range(5):  # never three failures in a row
        _refused(lambda: accounts.authenticate(username, TEST_PASSWORD + "x", app.code()))
        _refused(lambda: accounts.authenticate(username, TEST_PASSWORD + "y", app.code()))
        accounts.authenticate(username, TEST_PASSWORD, app.code())


def test_attempts_while_locked_do_not_extend_the_lock(clocked: Platform, clock: FakeClock) -> None:
    _user_id, username, app = _enrolled(clocked)
    for _ in range(3):
        _refused(lambda: clocked.accounts.authenticate(username, "wrong password!", app.code()))
    for _ in range(5):
        clock.advance(minutes=2)
        _refused(lambda: clocked.accounts.authenticate(username, "wrong password!", app.code()))
    clock.advance(minutes=5, seconds=1)  # 15 minutes after the lock
    clocked.accounts.authenticate(username, TEST_PASSWORD, app.code())


def test_failures_are_audited_without_what_was_typed(clocked: Platform) -> None:
    user_id, username, app = _enrolled(clocked)
    chain = _chain_of(clocked, user_id)
    typed_password = f"Secret-{uuid.uuid4().hex}"
    for _ in range(3):
        _refused(lambda: clocked.accounts.authenticate(username, typed_password, app.code()))
    failed = _events(clocked, chain, "auth.login_failed")
    assert [e.detail["reason"] for e in failed] == ["password"] * 3
    assert [e.detail["failures"] for e in failed] == [1, 2, 3]
    assert all(e.object_id == str(user_id) and e.actor_id == user_id for e in failed)
    locked = _events(clocked, chain, "auth.account_locked")
    assert len(locked) == 1 and locked[0].detail["after_failures"] == 3
    assert typed_password not in json.dumps([e.detail for e in failed])

    ghost = f"ghost.{uuid.uuid4().hex[:10]}"
    _refused(lambda: clocked.accounts.authenticate(ghost, typed_password, "123456"))
    unknown = [
        e for e in _events(clocked, PLATFORM_CHAIN, "auth.login_failed") if e.detail.get("username_hmac")
    ]
    mine = [e for e in unknown if e.detail["username_hmac"] == clocked.accounts.checker.pseudonym(ghost)]
    assert len(mine) == 1
    event = mine[0]
    assert (
        event.actor_id is None
        and event.actor_label == "anonymous"
        and event.detail["reason"] == "unknown_user"
    )
    stored = json.dumps({"label": event.actor_label, "object": event.object_id, "detail": event.detail})
    assert ghost not in stored and typed_password not in stored


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    calls: list[str | None] = []
    real = credentials.verify_password

    def counting(stored_hash: str | None, password: str) -> bool:
        calls.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(credentials, "verify_password", counting)
    yield calls


def test_every_refusal_costs_one_argon2_and_comparable_time(
    platform: Platform, argon2_calls: list[str | None]
) -> None:
    """Unknown user, wrong password, wrong code and locked account: one Argon2 verification each,
    the same message, and medians of the same order (a generous factor: the point is that no path
    skips the password hash, which is what makes the others 50x slower)."""
    clock = FakeClock()
    clocked = with_clock(platform, clock, AuthPolicy(max_failures=1000))
    _user_id, username, app = _enrolled(clocked)
    _locked_id, locked_name, locked_app = _enrolled(with_clock(platform, clock, AuthPolicy(max_failures=1)))
    locker = with_clock(platform, clock, AuthPolicy(max_failures=1))
    _refused(lambda: locker.accounts.authenticate(locked_name, "wrong password!", locked_app.code()))
    accounts = clocked.accounts
    attempts: dict[str, Callable[[], object]] = {
        "unknown user": lambda: accounts.authenticate(
            f"nobody.{uuid.uuid4().hex[:8]}", TEST_PASSWORD, "123456"
        ),
        "wrong password": lambda: accounts.authenticate(username, TEST_PASSWORD + "!", app.code()),
        "wrong code": lambda: accounts.authenticate(username, TEST_PASSWORD, app.code_for_step(-9)),
        "locked": lambda: accounts.authenticate(locked_name, TEST_PASSWORD, locked_app.code()),
    }
    timings: dict[str, list[float]] = {name: [] for name in attempts}
    for _ in range(5):
        for name, attempt in attempts.items():
            argon2_calls.clear()
            start = time.perf_counter()
            message = _refused(attempt)
            timings[name].append(time.perf_counter() - start)
            assert message == AUTH_FAILED, name
            assert len(argon2_calls) == 1, f"{name}: {len(argon2_calls)} Argon2 verifications"
            clock.advance(seconds=30)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    assert max(medians.values()) < 3 * min(medians.values()), medians
