"""Lockout and rate limiting over the API: N failures lock the account (same 401 as everything
else) until the period ends; one address sending too many password attempts gets 429."""

from __future__ import annotations

import datetime as dt

from labvault.identity.auth_policy import AuthPolicy
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from tests.auth_helpers import FakeClock, enroll, login_body, with_clock
from tests.db_inspect import audit_actions
from tests.factories import TEST_PASSWORD, Factory
from tests.web.support import app_client

LOGIN = f"{API_PREFIX}/auth/login"
ENROLL = f"{API_PREFIX}/auth/mfa/enroll"


def test_lockout_after_failures_and_unlock_after_the_period(platform: Platform) -> None:
    clock = FakeClock()
    clocked = with_clock(platform, clock, AuthPolicy(max_failures=5, lockout=dt.timedelta(minutes=15)))
    factory = Factory(clocked)
    lab = factory.lab()
    account = factory.user(lab, Role.TECHNICIAN)
    app = enroll(clocked.accounts, account.username)
    with app_client(clocked) as client:
        refusals = [
            client.post(LOGIN, json={**login_body(account, app), "password": "wrong password"}),
            client.post(LOGIN, json={**login_body(account, app), "totp_code": app.code_for_step(-3)}),
            client.post(LOGIN, json={**login_body(account, app), "password": "wrong password"}),
            client.post(LOGIN, json={**login_body(account, app), "totp_code": app.code_for_step(+3)}),
            client.post(LOGIN, json={**login_body(account, app), "password": "wrong password"}),
        ]
        locked = client.post(LOGIN, json=login_body(account, app))
        assert [r.status_code for r in refusals] == [401] * 5
        assert locked.status_code == 401 and locked.content == refusals[0].content
        clock.advance(minutes=15, seconds=1)
        unlocked = client.post(LOGIN, json=login_body(account, app))
        assert unlocked.status_code == 200, unlocked.text
    actions = audit_actions(clocked, lab.id, account.id)
    assert actions.count("auth.login_failed") == 6  # five failures and the attempt while locked
    assert actions.count("auth.account_locked") == 1
    assert actions[-1] == "auth.login"


def test_too_many_attempts_from_one_address_get_429(platform: Platform) -> None:
    factory = Factory(platform)
    account = factory.user(factory.lab(), Role.RECEPTION)
    body = {"username": account.username, "password": TEST_PASSWORD, "totp_code": "123456"}
    with app_client(
        platform, origin="198.51.100.7", login_rate_limit=3, login_rate_window_seconds=60
    ) as client:
        answers = [client.post(LOGIN, json=body).status_code for _ in range(3)]
        limited = client.post(LOGIN, json=body)
        also_limited = client.post(ENROLL, json={"username": account.username, "password": TEST_PASSWORD})
        assert answers == [401, 401, 401]
        assert limited.status_code == 429, limited.text
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "too many" in limited.json()["detail"]
        assert also_limited.status_code == 429
        assert client.get("/healthz").status_code == 200, "only password-taking routes are limited"
    with app_client(platform, origin="203.0.113.9", login_rate_limit=3) as other:
        assert other.post(LOGIN, json=body).status_code == 401, "another address is not limited"
