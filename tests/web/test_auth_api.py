"""Authentication over the API: login (password and one-time code), tokens, revocation, the
OpenAPI security declaration, /healthz, and the no-store caching policy on every answer. MFA,
lockout and sessions have their own modules (test_mfa_api, test_lockout_api, test_sessions_api)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import update

from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.models import User
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from labvault.store.base import utcnow
from labvault.web.app import API_PREFIX, OPENAPI_URL, create_app
from tests.auth_helpers import Authenticator, FakeClock, enroll, mark_reauthenticated, with_clock
from tests.factories import GIVEN_PASSWORD, TEST_PASSWORD, Factory
from tests.web.support import TestClient, assert_no_store, bearer, patient_json, token_for

LOGIN = f"{API_PREFIX}/auth/login"
ME = f"{API_PREFIX}/me"
PUBLIC_ROUTES = {
    ("post", LOGIN),
    ("post", f"{API_PREFIX}/auth/mfa/enroll"),
    ("post", f"{API_PREFIX}/auth/mfa/confirm"),
    ("post", f"{API_PREFIX}/auth/password/initial"),
    ("post", f"{API_PREFIX}/auth/security-keys/login/begin"),
    ("post", f"{API_PREFIX}/auth/security-keys/login/finish"),
    ("get", "/healthz"),
    ("get", "/fhir/metadata"),  # FHIR's CapabilityStatement: public, as every FHIR server's
}


@dataclass
class Env:
    platform: Platform  # its account service reads ``clock``
    clock: FakeClock
    client: TestClient
    factory: Factory
    lab: LabInfo
    user: Account
    app: Authenticator  # the user's authenticator app
    token: str

    def login(self, username: str, password: str, code: str | None = None) -> httpx.Response:
        body = {"username": username, "password": password, "totp_code": code or self.app.code()}
        response: httpx.Response = self.client.post(LOGIN, json=body)
        return response

    def fresh_token(self) -> tuple[uuid.UUID, str]:
        response = self.login(self.user.username, TEST_PASSWORD)
        assert response.status_code == 200, response.text
        return uuid.UUID(response.json()["token_id"]), response.json()["access_token"]


@pytest.fixture(scope="module")
def env(platform: Platform) -> Iterator[Env]:
    clock = FakeClock()  # many logins of one user: codes are single-use, the clock moves on
    clocked = with_clock(platform, clock)
    factory = Factory(clocked)
    lab = factory.lab("Laboratoire des jetons")
    user = factory.user(lab, Role.BIOLOGIST)
    app = enroll(clocked.accounts, user.username)
    with TestClient(create_app(clocked)) as client:
        yield Env(clocked, clock, client, factory, lab, user, app, token_for(clocked, user, hours=24))


# --- login -----------------------------------------------------------------------------------------


def test_login_returns_a_token_that_works(env: Env) -> None:
    before = utcnow()
    response = env.login(f"  {env.user.username.upper()} ", TEST_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("lvt_")
    ttl = dt.timedelta(hours=env.platform.settings.token_ttl_hours)
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert before + ttl - dt.timedelta(minutes=1) <= expires_at <= utcnow() + ttl + dt.timedelta(minutes=1)
    me = env.client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": str(env.user.id),
        "username": env.user.username,
        "role": "biologist",
        "lab_id": str(env.lab.id),
        "physician_id": None,
    }


def test_wrong_password_and_unknown_user_are_indistinguishable(env: Env) -> None:
    wrong_password = env.login(env.user.username, TEST_PASSWORD + "!")
    unknown_user = env.login(f"nobody{uuid.uuid4().hex[:8]}", TEST_PASSWORD, "123456")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.content == unknown_user.content
    assert wrong_password.headers.get("www-authenticate") == unknown_user.headers.get("www-authenticate")
    assert env.user.username not in wrong_password.text


def test_deactivated_user_can_neither_log_in_nor_use_its_tokens(env: Env) -> None:
    user = env.factory.user(env.lab, Role.TECHNICIAN)
    app = enroll(env.platform.accounts, user.username)
    token = token_for(env.platform, user)
    assert env.client.get(ME, headers=bearer(token)).status_code == 200
    with env.platform.db.engine.begin() as conn:
        conn.execute(update(User).where(User.id == user.id).values(active=False))
    unknown_user = env.login(f"nobody{uuid.uuid4().hex[:8]}", TEST_PASSWORD, "123456")
    refused = env.login(user.username, TEST_PASSWORD, app.code())
    assert refused.status_code == 401
    assert refused.content == unknown_user.content
    me = env.client.get(ME, headers=bearer(token))
    assert me.status_code == 401
    assert me.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "someone"},
        {"username": "", "password": "x"},
        {"username": "a", "password": "b", "otp": 1},
        {"username": "a", "password": "b", "totp_code": "123456", "otp": 1},
    ],
    ids=["empty", "no-password", "empty-username", "unknown-field", "unknown-field-with-code"],
)
def test_malformed_login_is_422(env: Env, body: dict[str, object]) -> None:
    response = env.client.post(LOGIN, json=body)
    assert response.status_code == 422, response.text


# --- tokens ----------------------------------------------------------------------------------------


def test_revoked_token_stops_working(env: Env) -> None:
    token_id, token = env.fresh_token()
    _, other_token = env.fresh_token()
    assert env.client.get(ME, headers=bearer(token)).status_code == 200
    response = env.client.delete(f"{API_PREFIX}/tokens/{token_id}", headers=bearer(token))
    assert response.status_code == 204, response.text
    me = env.client.get(ME, headers=bearer(token))
    assert me.status_code == 401
    assert me.headers.get("www-authenticate") == "Bearer"
    assert env.client.get(ME, headers=bearer(other_token)).status_code == 200, "only that token is revoked"


def test_tokens_endpoint_issues_a_working_token(env: Env) -> None:
    mark_reauthenticated(env.platform, env.token, env.clock.now)  # a sensitive action (test_sessions_api)
    response = env.client.post(
        f"{API_PREFIX}/tokens", json={"label": "script", "ttl_hours": 2}, headers=bearer(env.token)
    )
    assert response.status_code == 201, response.text
    expires_at = dt.datetime.fromisoformat(response.json()["expires_at"])
    assert abs(expires_at - (env.clock.now + dt.timedelta(hours=2))) < dt.timedelta(minutes=1)
    assert response.json()["kind"] == "script"
    me = env.client.get(ME, headers=bearer(response.json()["access_token"]))
    assert me.json()["id"] == str(env.user.id)


@pytest.mark.parametrize("ttl_hours", [0, -1, 24 * 365 + 1])
def test_token_lifetime_is_bounded(env: Env, ttl_hours: int) -> None:
    mark_reauthenticated(env.platform, env.token, env.clock.now)
    response = env.client.post(
        f"{API_PREFIX}/tokens", json={"ttl_hours": ttl_hours}, headers=bearer(env.token)
    )
    assert response.status_code == 422, response.text


def test_revoking_an_unknown_token_is_404(env: Env) -> None:
    response = env.client.delete(f"{API_PREFIX}/tokens/{uuid.uuid4()}", headers=bearer(env.token))
    assert response.status_code == 404, response.text


def test_token_is_only_accepted_in_the_authorization_header(env: Env) -> None:
    for response in (
        env.client.get(ME, params={"access_token": env.token}),
        env.client.get(ME, headers={"X-Api-Key": env.token}),
        env.client.get(ME, headers={"Cookie": f"access_token={env.token}"}),
    ):
        assert response.status_code == 401
        assert response.headers.get("www-authenticate") == "Bearer"


# --- OpenAPI and health ----------------------------------------------------------------------------


def test_openapi_declares_bearer_and_requires_it_everywhere_but_sign_in(env: Env) -> None:
    response = env.client.get(OPENAPI_URL, headers=bearer(env.token))
    assert response.status_code == 200
    document = response.json()
    schemes = document["components"]["securitySchemes"]
    bearer_schemes = [
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    ]
    assert len(bearer_schemes) == 1, schemes
    required: list[dict[str, list[str]]] = [{bearer_schemes[0]: []}]
    assert document.get("security") in (None, required), "a global requirement would cover login too"
    seen: set[tuple[str, str]] = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            seen.add((method.upper(), path))
            security = operation.get("security")
            if (method, path) in PUBLIC_ROUTES:
                assert security == [], f"{method.upper()} {path} must be explicitly exempt"
            else:
                assert path.startswith((f"{API_PREFIX}/", "/fhir/")) or path == "/fhir", (
                    f"undeclared route outside the API: {path}"
                )
                assert security == required, f"{method.upper()} {path} declares {security!r}"
    assert {(method.upper(), path) for method, path in PUBLIC_ROUTES} | {("GET", ME)} <= seen
    assert len(seen) >= 16


def test_healthz_answers_without_auth(env: Env) -> None:
    for headers in ({}, bearer("lvt_garbage"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = env.client.get("/healthz", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


# --- caching ---------------------------------------------------------------------------------------


def _duplicate_patient(env: Env) -> httpx.Response:
    body = patient_json(env.factory.patient_data())
    first = env.client.post(f"{API_PREFIX}/patients", json=body, headers=bearer(env.token))
    assert first.status_code == 201, first.text
    again: httpx.Response = env.client.post(f"{API_PREFIX}/patients", json=body, headers=bearer(env.token))
    return again


def _streamed_oversize(env: Env) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 4096

    headers = {**bearer(env.token), "Content-Type": "application/json"}
    response: httpx.Response = env.client.post(f"{API_PREFIX}/patients", content=chunks(), headers=headers)
    return response


REQUESTS: dict[str, tuple[int, Callable[[Env], httpx.Response]]] = {
    "healthz": (200, lambda e: e.client.get("/healthz")),
    "openapi": (200, lambda e: e.client.get(OPENAPI_URL, headers=bearer(e.token))),
    "login": (200, lambda e: e.login(e.user.username, TEST_PASSWORD)),
    "login-refused": (401, lambda e: e.login(e.user.username, "wrong password")),
    "me": (200, lambda e: e.client.get(ME, headers=bearer(e.token))),
    "patient-read": (
        200,
        lambda e: e.client.post(
            f"{API_PREFIX}/patients/search/nir", json={"nir": "185077500412331"}, headers=bearer(e.token)
        ),
    ),
    "no-token": (401, lambda e: e.client.get(ME)),
    "forbidden": (
        403,
        lambda e: e.client.post(
            f"{API_PREFIX}/labs",
            json={"code": "XX", "name": "Nope", "finess": "123456782"},
            headers=bearer(e.token),
        ),
    ),
    "not-found": (
        404,
        lambda e: e.client.get(f"{API_PREFIX}/patients/{uuid.uuid4()}", headers=bearer(e.token)),
    ),
    "no-such-path": (404, lambda e: e.client.get(f"{API_PREFIX}/nothing-here")),
    "wrong-method": (405, lambda e: e.client.put(ME, headers=bearer(e.token))),
    "conflict": (409, _duplicate_patient),
    "invalid": (422, lambda e: e.client.post(f"{API_PREFIX}/patients", json={}, headers=bearer(e.token))),
    "too-large": (
        413,
        lambda e: e.client.post(
            f"{API_PREFIX}/patients", content=b" " * (70 * 1024), headers=bearer(e.token)
        ),
    ),
    "too-large-streamed": (413, _streamed_oversize),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_every_response_is_no_store(env: Env, name: str) -> None:
    status, send = REQUESTS[name]
    response = send(env)
    assert response.status_code == status, response.text[:300]
    assert_no_store(response)


def test_a_token_cannot_mint_a_longer_lived_token(platform: Platform) -> None:
    """A stolen short token must not be turned into a one-year token (even re-authenticated)."""
    factory = Factory(platform)
    account = factory.user(factory.lab(), Role.RECEPTION)
    short = platform.accounts.issue_token(account, "login", dt.timedelta(hours=1))
    mark_reauthenticated(platform, short.token)
    with TestClient(create_app(platform)) as client:
        response = client.post(
            f"{API_PREFIX}/tokens",
            json={"label": "script", "ttl_hours": 24 * 365},
            headers={"Authorization": f"Bearer {short.token}"},
        )
    assert response.status_code == 201, response.text
    minted = dt.datetime.fromisoformat(response.json()["expires_at"].replace("Z", "+00:00"))
    assert minted <= short.expires_at


def test_login_password_is_not_stripped(platform: Platform) -> None:
    platform = with_clock(platform, FakeClock())
    factory = Factory(platform)
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    username = f"sp{uuid.uuid4().hex[:10]}"
    creator = context_for(admin, Purpose.ADMINISTRATION)
    platform.accounts.create_user(creator, username, GIVEN_PASSWORD, Role.TECHNICIAN, lab.id)
    platform.accounts.set_own_password(username, GIVEN_PASSWORD, "  spaces around it  ")
    app = enroll(platform.accounts, username, "  spaces around it  ")
    with TestClient(create_app(platform)) as client:
        ok = client.post(
            LOGIN, json={"username": username, "password": "  spaces around it  ", "totp_code": app.code()}
        )
        stripped = client.post(
            LOGIN, json={"username": username, "password": "spaces around it", "totp_code": app.code()}
        )
    assert ok.status_code == 200, ok.text
    assert stripped.status_code == 401
