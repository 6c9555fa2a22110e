"""Sessions over the API: idle and absolute expiry, re-authentication before sensitive actions,
revocation on password change, role change and deactivation."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from labvault.identity.accounts import Account
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.lab_service import LabInfo
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from tests.auth_helpers import Authenticator, FakeClock, enroll, login_body, with_clock
from tests.factories import TEST_PASSWORD, Factory
from tests.web.support import TestClient, TwoLabs, app_client, bearer, token_for

LOGIN = f"{API_PREFIX}/auth/login"
REAUTH = f"{API_PREFIX}/auth/reauth"
PASSWORD = f"{API_PREFIX}/auth/password"
TOKENS = f"{API_PREFIX}/tokens"
ME = f"{API_PREFIX}/me"


@dataclass
class Env:
    platform: Platform
    clock: FakeClock
    client: TestClient
    factory: Factory
    lab: LabInfo
    admin: Account
    admin_app: Authenticator

    def login(self, account: Account, app: Authenticator) -> str:
        response = self.client.post(LOGIN, json=login_body(account, app))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def reauth(self, token: str, app: Authenticator, password: str = TEST_PASSWORD) -> int:
        response = self.client.post(
            REAUTH, json={"password": password, "totp_code": app.code()}, headers=bearer(token)
        )
        return response.status_code

    def works(self, token: str) -> bool:
        status = self.client.get(ME, headers=bearer(token)).status_code
        assert status in (200, 401)
        return status == 200


@pytest.fixture
def env(platform: Platform) -> Iterator[Env]:
    clock = FakeClock()
    policy = AuthPolicy(session_idle=dt.timedelta(minutes=30), reauth_max_age=dt.timedelta(minutes=5))
    clocked = with_clock(platform, clock, policy)
    factory = Factory(clocked)
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    with app_client(clocked) as client:
        yield Env(clocked, clock, client, factory, lab, admin, enroll(clocked.accounts, admin.username))


def test_a_session_expires_when_idle(env: Env) -> None:
    token = env.login(env.admin, env.admin_app)
    env.clock.advance(minutes=25)
    assert env.works(token)
    env.clock.advance(minutes=25)
    assert env.works(token), "used 25 minutes ago: still alive"
    env.clock.advance(minutes=31)
    response = env.client.get(ME, headers=bearer(token))
    assert response.status_code == 401 and "without use" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_session_ends_at_its_absolute_lifetime(env: Env) -> None:
    token = env.login(env.admin, env.admin_app)
    for _ in range(16):
        env.clock.advance(minutes=29, seconds=59)
        assert env.works(token)
    env.clock.advance(minutes=1)
    assert not env.works(token)


def test_creating_a_script_token_needs_recent_authentication(env: Env) -> None:
    script = token_for(env.platform, env.admin, hours=24)
    refused = env.client.post(TOKENS, json={"label": "x", "ttl_hours": 1}, headers=bearer(script))
    assert refused.status_code == 403
    assert (
        "re-authentication required" in refused.json()["detail"]
        and "/auth/reauth" in refused.json()["detail"]
    )
    assert env.reauth(script, env.admin_app, password="wrong password") == 401
    assert env.works(script), "a refused re-authentication does not end the session"
    assert env.reauth(script, env.admin_app) == 200
    created = env.client.post(TOKENS, json={"label": "x", "ttl_hours": 1}, headers=bearer(script))
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "script"
    env.clock.advance(minutes=5, seconds=1)
    again = env.client.post(TOKENS, json={"label": "x", "ttl_hours": 1}, headers=bearer(script))
    assert again.status_code == 403


def test_a_fresh_login_may_act_at_once_then_must_reauthenticate(env: Env) -> None:
    token = env.login(env.admin, env.admin_app)
    assert env.client.post(TOKENS, json={"ttl_hours": 1}, headers=bearer(token)).status_code == 201
    env.clock.advance(minutes=6)
    assert env.client.post(TOKENS, json={"ttl_hours": 1}, headers=bearer(token)).status_code == 403
    reauth = env.client.post(
        REAUTH, json={"password": TEST_PASSWORD, "totp_code": env.admin_app.code()}, headers=bearer(token)
    )
    assert reauth.status_code == 200, reauth.text
    body = reauth.json()
    valid_until = dt.datetime.fromisoformat(body["valid_until"])
    assert valid_until - dt.datetime.fromisoformat(body["reauthenticated_at"]) == dt.timedelta(minutes=5)
    assert env.client.post(TOKENS, json={"ttl_hours": 1}, headers=bearer(token)).status_code == 201


def test_creating_a_user_needs_recent_authentication(env: Env) -> None:
    script = token_for(env.platform, env.admin, hours=24)
    body = {"username": f"n{uuid.uuid4().hex[:10]}", "password": TEST_PASSWORD, "role": "technician"}
    path = f"{API_PREFIX}/labs/{env.lab.id}/users"
    refused = env.client.post(path, json=body, headers=bearer(script))
    assert refused.status_code == 403 and "re-authentication required" in refused.text
    assert env.reauth(script, env.admin_app) == 200
    created = env.client.post(path, json=body, headers=bearer(script))
    assert created.status_code == 201, created.text


def test_a_password_change_revokes_every_token(env: Env) -> None:
    staff = env.factory.user(env.lab, Role.BIOLOGIST)
    app = enroll(env.platform.accounts, staff.username)
    session = env.login(staff, app)
    script = token_for(env.platform, staff, hours=24)
    new_password = "encore un autre mot de passe"
    change = {"current_password": TEST_PASSWORD, "totp_code": app.code(), "new_password": new_password}
    weak = env.client.post(PASSWORD, json={**change, "new_password": "short"}, headers=bearer(session))
    assert weak.status_code == 422
    wrong = env.client.post(
        PASSWORD, json={**change, "current_password": "nope nope nope"}, headers=bearer(session)
    )
    assert wrong.status_code == 401
    assert env.works(session) and env.works(script)
    changed = env.client.post(PASSWORD, json={**change, "totp_code": app.code()}, headers=bearer(session))
    assert changed.status_code == 204, changed.text
    assert not env.works(session) and not env.works(script)
    assert env.client.post(LOGIN, json=login_body(staff, app)).status_code == 401
    assert env.client.post(LOGIN, json=login_body(staff, app, password=new_password)).status_code == 200


def test_a_role_change_or_deactivation_revokes_every_token(env: Env) -> None:
    staff = env.factory.user(env.lab, Role.TECHNICIAN)
    app = enroll(env.platform.accounts, staff.username)
    staff_session = env.login(staff, app)
    staff_script = token_for(env.platform, staff, hours=24)
    admin = env.login(env.admin, env.admin_app)  # fresh login: may act for 5 minutes
    path = f"{API_PREFIX}/users/{staff.id}"
    promoted = env.client.patch(path, json={"role": "biologist"}, headers=bearer(admin))
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "biologist" and promoted.json()["active"] is True
    assert not env.works(staff_session) and not env.works(staff_script)
    relogged = env.login(staff, app)
    assert env.client.get(ME, headers=bearer(relogged)).json()["role"] == "biologist"
    disabled = env.client.patch(path, json={"active": False}, headers=bearer(admin))
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert not env.works(relogged)
    assert env.client.post(LOGIN, json=login_body(staff, app)).status_code == 401
    env.clock.advance(minutes=6)
    stale = env.client.patch(path, json={"active": True}, headers=bearer(admin))
    assert stale.status_code == 403 and "re-authentication required" in stale.text


def test_user_administration_stays_in_the_lab(env: Env, two_labs: TwoLabs) -> None:
    foreign = two_labs.other(Role.TECHNICIAN)
    admin = env.login(env.admin, env.admin_app)
    for method, path, body in (
        ("PATCH", f"{API_PREFIX}/users/{foreign.id}", {"active": False}),
        ("POST", f"{API_PREFIX}/users/{foreign.id}/mfa/reset", None),
        ("PATCH", f"{API_PREFIX}/users/{uuid.uuid4()}", {"active": False}),
    ):
        response = env.client.request(method, path, json=body, headers=bearer(admin))
        assert response.status_code == 404, response.text
    staff = env.factory.user(env.lab, Role.RECEPTION)
    staff_token = token_for(env.platform, staff, recent_auth=True)
    response = env.client.patch(
        f"{API_PREFIX}/users/{env.admin.id}", json={"active": False}, headers=bearer(staff_token)
    )
    assert response.status_code == 403
    assert (
        env.client.patch(f"{API_PREFIX}/users/{staff.id}", json={}, headers=bearer(admin)).status_code == 422
    )


def test_mfa_reset_over_the_api(env: Env) -> None:
    staff = env.factory.user(env.lab, Role.TECHNICIAN)
    app = enroll(env.platform.accounts, staff.username)
    staff_session = env.login(staff, app)
    admin = env.login(env.admin, env.admin_app)
    reset = env.client.post(f"{API_PREFIX}/users/{staff.id}/mfa/reset", headers=bearer(admin))
    assert reset.status_code == 204, reset.text
    assert not env.works(staff_session)
    enrolled = env.client.post(
        f"{API_PREFIX}/auth/mfa/enroll", json={"username": staff.username, "password": TEST_PASSWORD}
    )
    assert enrolled.status_code == 200 and enrolled.json()["secret"] != app.secret
