"""The browser UI's sessions: cookie attributes, sign-in and its refusals, CSRF on every POST
(login included), idle expiry, revocation, and the separation of cookie (UI) and bearer (API)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from labvault.identity.accounts import Account, context_for
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.lab_service import LabInfo
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.ui.cookies import LOGIN_COOKIE, SESSION_COOKIE
from tests.auth_helpers import FakeClock, pool_for, with_clock
from tests.db_inspect import audit_count
from tests.factories import TEST_PASSWORD, Factory
from tests.web.support import bearer, token_for
from tests.web.ui_support import ORIGIN, SAME_ORIGIN, UiBrowser, csrf_of


@dataclass
class Env:
    platform: Platform
    factory: Factory
    lab: LabInfo
    reception: Account

    def browser(self) -> UiBrowser:
        return UiBrowser(self.platform)

    def signed_in(self, account: Account | None = None) -> UiBrowser:
        browser = self.browser()
        response = browser.sign_in(account or self.reception)
        assert response.status_code == 303, response.text
        return browser


@pytest.fixture
def env(platform: Platform, factory: Factory) -> Env:
    lab = factory.lab()
    return Env(platform, factory, lab, factory.user(lab, Role.RECEPTION))


def signed_in_ok(browser: UiBrowser) -> bool:
    page = browser.get("/ui/")
    assert page.status_code in (200, 303)
    return page.status_code == 200


def test_unauthenticated_pages_send_to_sign_in(env: Env) -> None:
    browser = env.browser()
    for path in ("/ui/", "/ui/patients/search", "/ui/alerts", f"/ui/patients/{env.lab.id}"):
        response = browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/ui/login"
    assert browser.get("/").headers["location"] == "/ui/"


def test_sign_in_sets_a_host_only_httponly_strict_cookie(env: Env) -> None:
    browser = env.browser()
    response = browser.sign_in(env.reception)
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in session.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    assert "samesite=strict" in session.lower() and "path=/" in session.lower()
    assert not {"domain", "max-age", "expires"} & attributes  # host-only, ends with the browser
    assert any(c.startswith(f"{LOGIN_COOKIE}=") and "max-age=0" in c.lower() for c in cookies)
    home = browser.get("/ui/")
    assert home.status_code == 200 and env.reception.username in home.text


def test_every_refusal_gives_the_same_page(env: Env) -> None:
    """Unknown user, wrong password, wrong code: the same 401 page (the typed username aside)."""
    code = pool_for(env.platform).fresh_code(env.reception)
    attempts = {
        "unknown": ("nobody.here", TEST_PASSWORD, code),
        "password": (env.reception.username, "wrong password 123", code),
        "code": (env.reception.username, TEST_PASSWORD, "000000" if code != "000000" else "111111"),
    }
    pages = {}
    for name, (username, password, totp) in attempts.items():
        browser = env.browser()
        token = csrf_of(browser.get("/ui/login"))
        response = browser.post(
            "/ui/login", {"username": username, "password": password, "totp_code": totp, "csrf_token": token}
        )
        assert response.status_code == 401, name
        assert browser.session_token is None
        pages[name] = response.text.replace(username, "USER").replace(token, "TOKEN")
    assert pages["unknown"] == pages["password"] == pages["code"]
    assert "Sign-in refused" in pages["unknown"]


@pytest.mark.parametrize(
    "change",
    ["no_login_cookie", "no_token", "wrong_token", "foreign_origin", "same_site_fetch", "cross_site_fetch"],
)
def test_login_form_is_csrf_protected(env: Env, change: str) -> None:
    browser = env.browser()
    token = csrf_of(browser.get("/ui/login"))
    body = {
        "username": env.reception.username,
        "password": TEST_PASSWORD,
        "totp_code": pool_for(env.platform).fresh_code(env.reception),
        "csrf_token": token,
    }
    headers = dict(SAME_ORIGIN)
    if change == "no_login_cookie":
        browser.client.cookies.delete(LOGIN_COOKIE)
    elif change == "no_token":
        del body["csrf_token"]
    elif change == "wrong_token":
        body["csrf_token"] = csrf_of(env.browser().get("/ui/login"))  # another browser's
    elif change == "foreign_origin":
        headers["Origin"] = "https://evil.example"
    elif change == "same_site_fetch":
        headers["Sec-Fetch-Site"] = "same-site"
    else:
        headers["Sec-Fetch-Site"] = "cross-site"
    response = browser.post("/ui/login", body, headers)
    assert response.status_code == 403
    assert browser.session_token is None


@pytest.mark.parametrize(
    "change",
    [
        "no_token",
        "other_sessions_token",
        "foreign_origin",
        "null_origin",
        "same_site_fetch",
        "cross_site_fetch",
        "no_origin_no_fetch_site",
    ],
)
def test_posts_of_a_session_need_its_token_and_this_origin(env: Env, change: str) -> None:
    browser = env.signed_in()
    token = browser.page_token()
    headers = dict(SAME_ORIGIN)
    body = {"csrf_token": token}
    if change == "no_token":
        body = {}
    elif change == "other_sessions_token":
        body = {"csrf_token": env.signed_in().page_token()}
    elif change == "foreign_origin":
        headers["Origin"] = "https://testserver.evil.example"
    elif change == "null_origin":  # a sandboxed frame, a data: URL (the pages' own posts carry theirs)
        headers["Origin"] = "null"
    elif change == "same_site_fetch":
        headers["Sec-Fetch-Site"] = "same-site"
    elif change == "no_origin_no_fetch_site":  # a valid token, but a script that says nothing of its origin
        headers = {}
    else:
        headers["Sec-Fetch-Site"] = "cross-site"
    response = browser.post("/ui/logout", body, headers)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert signed_in_ok(browser), "a refused logout must not end the session"


def test_logout_revokes_the_session_on_the_server(env: Env) -> None:
    browser = env.signed_in()
    token = browser.session_token
    assert token is not None
    response = browser.post("/ui/logout", {"csrf_token": browser.page_token()})
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert browser.session_token is None
    replay = env.browser()
    replay.plant(token)
    assert not signed_in_ok(replay), "the old cookie value must be dead, not only forgotten"


def test_each_sign_in_gets_a_new_session(env: Env) -> None:
    browser = env.browser()
    browser.plant("lvt_planted-by-an-attacker")
    assert browser.sign_in(env.reception).status_code == 303
    first = browser.session_token
    assert first and first != "lvt_planted-by-an-attacker"
    assert browser.get("/ui/login").headers["location"] == "/ui/"  # signed in: sent home
    assert env.signed_in().session_token != first


def test_cookie_and_bearer_do_not_cross(env: Env) -> None:
    browser = env.signed_in()
    cookie = browser.session_token
    assert cookie is not None
    # The API never reads the cookie, nor takes the browser's token as a bearer token...
    assert browser.get("/api/v1/me").status_code == 401
    assert env.browser().get("/api/v1/me", headers=bearer(cookie)).status_code == 401
    assert signed_in_ok(browser)
    # ...and the UI never reads a bearer token, nor accepts an API session or a script token as
    # its cookie.
    script = token_for(env.platform, env.reception)
    other = env.browser()
    assert other.get("/ui/", headers=bearer(script)).status_code == 303
    other.plant(script)
    assert not signed_in_ok(other)
    code = pool_for(env.platform).fresh_code(env.reception)
    api_session = env.platform.accounts.login(env.reception.username, TEST_PASSWORD, code).token
    assert env.browser().get("/api/v1/me", headers=bearer(api_session)).status_code == 200
    other.plant(api_session)
    assert not signed_in_ok(other)


def test_idle_session_ends_and_the_cookie_is_cleared(env: Env) -> None:
    clock = FakeClock()
    platform = with_clock(env.platform, clock, AuthPolicy(session_idle=dt.timedelta(minutes=30)))
    browser = UiBrowser(platform)
    assert browser.sign_in(env.reception).status_code == 303
    clock.advance(minutes=20)
    assert signed_in_ok(browser)
    clock.advance(minutes=31)
    ended = browser.get("/ui/")
    assert ended.status_code == 303 and ended.headers["location"] == "/ui/login?ended=1"
    assert browser.session_token is None
    assert "Your session has ended" not in browser.get("/ui/login").text  # only when it had one
    assert "session" in browser.get("/ui/login?ended=1").text.lower()


def test_password_change_ends_browser_sessions(env: Env) -> None:
    browser = env.signed_in()
    api_token = token_for(env.platform, env.reception)
    code = pool_for(env.platform).fresh_code(env.reception)
    changed = browser.client.post(
        "/api/v1/auth/password",
        json={
            "current_password": TEST_PASSWORD,
            "totp_code": code,
            "new_password": "Another long passphrase 42",
        },
        headers=bearer(api_token),
    )
    assert changed.status_code == 204, changed.text
    assert not signed_in_ok(browser)


def test_pages_allow_only_their_own_script_and_are_not_cached(env: Env) -> None:
    browser = env.signed_in()
    for path in ("/ui/login", "/ui/", "/ui/patients/search", "/ui/static/ui.css", "/ui/static/webauthn.js"):
        response = browser.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe" not in csp and "default-src 'none'" in csp, path
        assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
    api = browser.get("/api/v1/me")
    assert "form-action 'none'" in api.headers["content-security-policy"]


def test_login_origin_check_accepts_this_origin_only(env: Env) -> None:
    """Without Sec-Fetch-Site (older clients), Origin alone decides; with neither, refused even
    with the right token (issue 10, finding 11)."""
    browser = env.browser()
    token = csrf_of(browser.get("/ui/login"))
    code = pool_for(env.platform).fresh_code(env.reception)
    body = {
        "username": env.reception.username,
        "password": TEST_PASSWORD,
        "totp_code": code,
        "csrf_token": token,
    }
    silent = browser.post("/ui/login", body, {})
    assert silent.status_code == 403 and browser.session_token is None
    assert browser.post("/ui/login", body, {"Origin": ORIGIN}).status_code == 303


@pytest.fixture
def many_sessions(env: Env) -> Iterator[list[UiBrowser]]:
    yield [env.signed_in() for _ in range(2)]


def test_tokens_are_bound_to_their_session(env: Env, many_sessions: list[UiBrowser]) -> None:
    first, second = many_sessions
    assert first.page_token() != second.page_token()
    assert first.page_token() == first.page_token("/ui/patients/search")  # stable within a session


@pytest.mark.parametrize("fetch_site", ["same-site", "cross-site"])
def test_pages_are_not_read_for_another_origin(env: Env, fetch_site: str) -> None:
    """An <img src> on another port or subdomain of the same site would send the cookie: the page
    is refused, so nothing is read, audited or counted in the user's name."""
    browser = env.signed_in()
    patient = env.platform.patients.register(context_for(env.reception), env.factory.patient_data())
    before = audit_count(env.platform, env.lab.id)
    response = browser.get(f"/ui/patients/{patient.id}", headers={"Sec-Fetch-Site": fetch_site})
    assert response.status_code == 403 and patient.data.birth_name not in response.text
    assert audit_count(env.platform, env.lab.id) == before
    typed = browser.get(f"/ui/patients/{patient.id}", headers={"Sec-Fetch-Site": "none"})
    assert typed.status_code == 200  # typed or bookmarked by the person
