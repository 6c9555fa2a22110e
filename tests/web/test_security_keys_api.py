"""Security keys (WebAuthn) over the API, with a software authenticator: registration behind
re-authentication, sign-in with password + key, single-use challenges, no user enumeration, the
counter that betrays a clone, and roles that must use their key once they have one."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from labvault.identity.account_service import AccountService
from labvault.identity.accounts import Account
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.models import User
from labvault.identity.security_keys import SecurityKeyService
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.models import AuditEvent
from labvault.web.app import API_PREFIX
from tests.auth_helpers import Authenticator, enroll, forget_code_use, login_body
from tests.factories import TEST_PASSWORD, Factory
from tests.soft_authenticator import SoftAuthenticator
from tests.web.support import TestClient, app_client, bearer, token_for

KEYS = f"{API_PREFIX}/auth/security-keys"
LOGIN = f"{API_PREFIX}/auth/login"
ME = f"{API_PREFIX}/me"


@dataclass
class Env:
    platform: Platform
    client: TestClient
    factory: Factory

    def person(self, role: Role = Role.TECHNICIAN) -> tuple[Account, Authenticator, str]:
        """An enrolled user and a fresh session token (a login counts as a recent authentication)."""
        account = self.factory.user(self.factory.lab(), role)
        app = enroll(self.platform.accounts, account.username)
        response = self.client.post(LOGIN, json=self.code_login(account, app))
        assert response.status_code == 200, response.text
        return account, app, response.json()["access_token"]

    def code_login(self, account: Account, app: Authenticator) -> dict[str, str]:
        """A login body with a code the server takes now: the app's last code is forgotten on both
        sides so the test does not wait for the next 30-second step (replay is tested in test_mfa*)."""
        forget_code_use(self.platform, account.username)
        app.forget()
        return login_body(account, app)

    def register(self, token: str) -> SoftAuthenticator:
        key = SoftAuthenticator(self.platform.settings.webauthn_origin)
        begun = self.client.post(f"{KEYS}/register/begin", headers=bearer(token))
        assert begun.status_code == 200, begun.text
        body = begun.json()
        finished = self.client.post(
            f"{KEYS}/register/finish",
            headers=bearer(token),
            json={
                "challenge_id": body["challenge_id"],
                "credential": key.create(_json(body)),
                "label": "clé",
            },
        )
        assert finished.status_code == 201, finished.text
        return key

    def begin_login(self, username: str) -> dict[str, Any]:
        response = self.client.post(f"{KEYS}/login/begin", json={"username": username})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def finish_login(
        self, username: str, begun: dict[str, Any], credential: dict[str, Any], password: str = TEST_PASSWORD
    ) -> Any:
        return self.client.post(
            f"{KEYS}/login/finish",
            json={
                "username": username,
                "password": password,
                "challenge_id": begun["challenge_id"],
                "credential": credential,
            },
        )


def _json(ceremony: dict[str, Any]) -> str:
    return json.dumps(ceremony["options"])


def _with_policy(platform: Platform, policy: AuthPolicy) -> Platform:
    accounts = AccountService(platform.db, platform.keys, policy)
    keys = SecurityKeyService(platform.db, accounts, platform.security_keys.rp)
    return dataclasses.replace(platform, accounts=accounts, security_keys=keys)


@pytest.fixture
def env(platform: Platform) -> Iterator[Env]:
    with app_client(platform, login_rate_limit=10_000) as client:
        yield Env(platform, client, Factory(platform))


def test_register_then_sign_in_with_password_and_key(env: Env) -> None:
    account, _app, token = env.person()
    key = env.register(token)
    listed = env.client.get(KEYS, headers=bearer(token)).json()
    assert [k["label"] for k in listed] == ["clé"]

    begun = env.begin_login(account.username)
    assert begun["options"]["allowCredentials"] == []  # discoverable keys: no id is handed out
    signed_in = env.finish_login(account.username, begun, key.get(_json(begun)))
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["kind"] == "session"
    me = env.client.get(ME, headers=bearer(signed_in.json()["access_token"]))
    assert me.json()["username"] == account.username

    with env.platform.db.owner_engine.connect() as conn:
        actions = conn.scalars(
            select(AuditEvent.action).where(AuditEvent.actor_id == account.id).order_by(AuditEvent.seq)
        ).all()
    assert "auth.security_key_add" in actions and actions.count("auth.login") == 2


def test_challenges_are_single_use_and_bound(env: Env) -> None:
    account, _app, token = env.person()
    key = env.register(token)
    begun = env.begin_login(account.username)
    answer = key.get(_json(begun))
    assert env.finish_login(account.username, begun, answer).status_code == 200
    replayed = env.finish_login(account.username, begun, answer)
    assert replayed.status_code == 401
    # The same answer for a new challenge does not match it.
    fresh = env.begin_login(account.username)
    assert env.finish_login(account.username, fresh, answer).status_code == 401
    # A challenge made for another username is not accepted for this one.
    other, _app2, _token2 = env.person()
    foreign = env.begin_login(other.username)
    assert env.finish_login(account.username, foreign, key.get(_json(foreign))).status_code == 401


def test_every_refusal_is_the_login_refusal_and_counts_toward_lockout(env: Env) -> None:
    account, app, token = env.person()
    key = env.register(token)
    wrong_totp = env.client.post(LOGIN, json={**env.code_login(account, app), "password": "not the password"})
    begun = env.begin_login(account.username)
    wrong_password = env.finish_login(account.username, begun, key.get(_json(begun)), password="nope nope")
    stranger = SoftAuthenticator(env.platform.settings.webauthn_origin, credential_id=key.credential_id)
    begun = env.begin_login(account.username)
    forged = env.finish_login(account.username, begun, stranger.get(_json(begun)))
    begun = env.begin_login("nobody.here")
    unknown = env.finish_login("nobody.here", begun, key.get(_json(begun)))
    for response in (wrong_password, forged, unknown):
        assert (response.status_code, response.json()) == (wrong_totp.status_code, wrong_totp.json())
    with env.platform.db.owner_engine.connect() as conn:
        failures = conn.scalar(select(User.failed_logins).where(User.id == account.id))
    assert failures == 3


def test_begin_tells_nothing_about_accounts(env: Env) -> None:
    with_key, _app, token = env.person()
    env.register(token)
    without_key, _app2, _token2 = env.person()
    answers = [env.begin_login(name) for name in (with_key.username, without_key.username, "nobody.here")]
    shapes = []
    for answer in answers:
        options = dict(answer["options"])
        assert len(options.pop("challenge")) == len(answers[0]["options"]["challenge"])
        shapes.append(options)
    assert shapes[0] == shapes[1] == shapes[2]
    assert shapes[0]["allowCredentials"] == []
    assert len({a["challenge_id"] for a in answers}) == 3


def test_registration_needs_recent_authentication(env: Env) -> None:
    account = env.factory.user(env.factory.lab(), Role.BIOLOGIST)
    enroll(env.platform.accounts, account.username)
    stale = token_for(env.platform, account)
    response = env.client.post(f"{KEYS}/register/begin", headers=bearer(stale))
    assert response.status_code == 403
    assert "re-authentication required" in response.json()["detail"]


def test_a_cloned_key_is_refused(env: Env) -> None:
    account, _app, token = env.person()
    key = env.register(token)
    begun = env.begin_login(account.username)
    assert env.finish_login(account.username, begun, key.get(_json(begun), count_step=5)).status_code == 200
    clone = SoftAuthenticator(key.origin, credential_id=key.credential_id, key=key.key, sign_count=1)
    begun = env.begin_login(account.username)
    assert env.finish_login(account.username, begun, clone.get(_json(begun))).status_code == 401


def test_reauthenticate_with_the_key_and_remove_it(env: Env) -> None:
    account, _app, _token = env.person()
    stale = token_for(env.platform, account)
    fresh_login = env.client.post(LOGIN, json=env.code_login(account, enroll_again(env, account)))
    key = env.register(fresh_login.json()["access_token"])
    begun = env.client.post(f"{KEYS}/reauth/begin", headers=bearer(stale)).json()
    done = env.client.post(
        f"{KEYS}/reauth/finish",
        headers=bearer(stale),
        json={
            "password": TEST_PASSWORD,
            "challenge_id": begun["challenge_id"],
            "credential": key.get(_json(begun)),
        },
    )
    assert done.status_code == 200, done.text
    key_id = env.client.get(KEYS, headers=bearer(stale)).json()[0]["id"]
    assert env.client.delete(f"{KEYS}/{key_id}", headers=bearer(stale)).status_code == 204
    assert env.client.get(KEYS, headers=bearer(stale)).json() == []


def enroll_again(env: Env, account: Account) -> Authenticator:
    """A second app for ``account`` after an admin reset (the first one's code was used up)."""
    with env.platform.db.engine.begin() as conn:
        conn.execute(
            User.__table__.update()
            .where(User.__table__.c.id == account.id)
            .values(mfa_enabled_at=None, totp_secret_sealed=None, totp_last_step=None)
        )
    return enroll(env.platform.accounts, account.username)


def test_roles_configured_for_keys_cannot_fall_back_to_the_code(platform: Platform) -> None:
    strict = _with_policy(
        platform, dataclasses.replace(platform.accounts.policy, security_key_roles=frozenset({"lab_admin"}))
    )
    with app_client(strict, login_rate_limit=10_000) as client:
        env = Env(strict, client, Factory(strict))
        admin, app, token = env.person(Role.LAB_ADMIN)  # no key yet: the code still lets them in
        key = env.register(token)
        refused = client.post(LOGIN, json=env.code_login(admin, app))
        assert refused.status_code == 401
        begun = env.begin_login(admin.username)
        assert env.finish_login(admin.username, begun, key.get(_json(begun))).status_code == 200
        technician, tech_app, tech_token = env.person(Role.TECHNICIAN)
        env.register(tech_token)
        assert client.post(LOGIN, json=env.code_login(technician, tech_app)).status_code == 200
