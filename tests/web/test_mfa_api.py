"""MFA over the API: enrolment in two steps, login with the code, and one answer for every
refusal (unknown user, wrong password, wrong code, locked, disabled, not enrolled)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import update

from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.models import User
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from tests.auth_helpers import Authenticator, FakeClock, enroll, login_body, with_clock
from tests.factories import TEST_PASSWORD, Factory
from tests.web.support import TestClient, app_client, bearer

LOGIN = f"{API_PREFIX}/auth/login"
ENROLL = f"{API_PREFIX}/auth/mfa/enroll"
CONFIRM = f"{API_PREFIX}/auth/mfa/confirm"
ME = f"{API_PREFIX}/me"


@dataclass
class Env:
    platform: Platform
    clock: FakeClock
    client: TestClient
    factory: Factory


@pytest.fixture
def env(platform: Platform) -> Iterator[Env]:
    clock = FakeClock()
    clocked = with_clock(platform, clock, AuthPolicy(max_failures=3))
    with app_client(clocked) as client:
        yield Env(clocked, clock, client, Factory(clocked))


def test_enrol_confirm_and_log_in(env: Env) -> None:
    account = env.factory.user(env.factory.lab(), Role.RECEPTION)
    creds = {"username": account.username, "password": TEST_PASSWORD}
    assert env.client.post(LOGIN, json={**creds, "totp_code": "123456"}).status_code == 401
    enrolled = env.client.post(ENROLL, json=creds)
    assert enrolled.status_code == 200, enrolled.text
    body = enrolled.json()
    assert body["otpauth_uri"].startswith(
        f"otpauth://totp/labvault:{account.username}?secret={body['secret']}"
    )
    assert body["digits"] == 6 and body["period"] == 30
    app = Authenticator(body["secret"], env.clock)
    good = app.code()
    wrong = f"{(int(good) + 500_000) % 1_000_000:06d}"
    refused = env.client.post(CONFIRM, json={**creds, "totp_code": wrong})
    assert refused.status_code == 401
    assert env.client.post(LOGIN, json={**creds, "totp_code": good}).status_code == 401, "not confirmed yet"
    confirmed = env.client.post(CONFIRM, json={**creds, "totp_code": good})
    assert confirmed.status_code == 204, confirmed.text
    replayed = env.client.post(LOGIN, json={**creds, "totp_code": good})
    assert replayed.status_code == 401, "the confirmation code cannot be used again to log in"
    response = env.client.post(LOGIN, json={**creds, "totp_code": app.code()})
    assert response.status_code == 200, response.text
    assert response.json()["kind"] == "session"
    me = env.client.get(ME, headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == str(account.id)


def test_same_code_twice_is_refused_over_http(env: Env) -> None:
    account = env.factory.user(env.factory.lab(), Role.TECHNICIAN)
    app = enroll(env.platform.accounts, account.username)
    body = login_body(account, app)
    first = env.client.post(LOGIN, json=body)
    second = env.client.post(LOGIN, json=body)
    assert first.status_code == 200, first.text
    assert second.status_code == 401


def test_every_refusal_looks_the_same(env: Env) -> None:
    lab = env.factory.lab()
    user = env.factory.user(lab, Role.BIOLOGIST)
    app = enroll(env.platform.accounts, user.username)
    locked = env.factory.user(lab, Role.BIOLOGIST)
    locked_app = enroll(env.platform.accounts, locked.username)
    for _ in range(3):
        env.client.post(LOGIN, json={**login_body(locked, locked_app), "password": "not the password"})
    disabled = env.factory.user(lab, Role.BIOLOGIST)
    disabled_app = enroll(env.platform.accounts, disabled.username)
    with env.platform.db.engine.begin() as conn:
        conn.execute(update(User).where(User.id == disabled.id).values(active=False))
    not_enrolled = env.factory.user(lab, Role.BIOLOGIST)
    answers: dict[str, httpx.Response] = {
        "unknown user": env.client.post(
            LOGIN,
            json={
                "username": f"nobody{uuid.uuid4().hex[:8]}",
                "password": TEST_PASSWORD,
                "totp_code": "123456",
            },
        ),
        "wrong password": env.client.post(
            LOGIN, json={**login_body(user, app), "password": TEST_PASSWORD + "!"}
        ),
        "wrong code": env.client.post(
            LOGIN, json={**login_body(user, app), "totp_code": app.code_for_step(-4)}
        ),
        "locked": env.client.post(LOGIN, json=login_body(locked, locked_app)),
        "disabled": env.client.post(LOGIN, json=login_body(disabled, disabled_app)),
        "not enrolled": env.client.post(
            LOGIN, json={"username": not_enrolled.username, "password": TEST_PASSWORD, "totp_code": "123456"}
        ),
        "enrol an enrolled account": env.client.post(
            ENROLL, json={"username": user.username, "password": TEST_PASSWORD}
        ),
        "enrol an unknown user": env.client.post(
            ENROLL, json={"username": f"nobody{uuid.uuid4().hex[:8]}", "password": TEST_PASSWORD}
        ),
    }
    reference = answers["unknown user"]
    assert reference.status_code == 401
    for name, response in answers.items():
        assert response.status_code == 401, name
        assert response.content == reference.content, name
        assert response.headers.get("www-authenticate") == reference.headers.get("www-authenticate"), name
        assert user.username not in response.text
    # Three refusals for ``user`` (the enrolment attempt counts too): locked, then free again.
    assert env.client.post(LOGIN, json=login_body(user, app)).status_code == 401
    env.clock.advance(minutes=15, seconds=1)
    assert env.client.post(LOGIN, json=login_body(user, app)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "someone", "password": "x"},
        {"username": "someone", "password": "x", "totp_code": "12345"},
        {"username": "someone", "password": "x", "totp_code": "1234567"},
        {"username": "someone", "password": "x", "totp_code": "12a456"},
    ],
    ids=["no-code", "short-code", "long-code", "letters"],
)
def test_malformed_codes_are_422(env: Env, body: dict[str, str]) -> None:
    response = env.client.post(LOGIN, json=body)
    assert response.status_code == 422, response.text
    assert "totp_code" in response.text
