"""Security keys in the browser UI, with a software FIDO2 authenticator answering what the page's
script would ask the browser: register a key (only after a recent confirmation of identity), sign
in with password + key (a browser session), and a key-only role that cannot fall back to the code."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest

from labvault.identity.account_service import AccountService
from labvault.identity.accounts import Account
from labvault.identity.security_keys import SecurityKeyService
from labvault.platform import Platform
from labvault.security.access import Role
from tests.auth_helpers import FakeClock, pool_for
from tests.factories import TEST_PASSWORD, Factory
from tests.soft_authenticator import SoftAuthenticator
from tests.web.support import bearer
from tests.web.ui_support import UiBrowser, csrf_of


def register_key(browser: UiBrowser, platform: Platform, label: str = "clé du bureau") -> SoftAuthenticator:
    token = browser.page_token("/ui/security-keys")
    begun = browser.post("/ui/security-keys/register/begin", {"csrf_token": token})
    assert begun.status_code == 200, begun.text
    key = SoftAuthenticator(platform.settings.webauthn_origin)
    credential = key.create(json.dumps(begun.json()["options"]))
    done = browser.post(
        "/ui/security-keys/register",
        {
            "csrf_token": token,
            "challenge_id": begun.json()["challenge_id"],
            "credential": json.dumps(credential),
            "label": label,
        },
    )
    assert done.status_code == 303, done.text
    return key


def key_sign_in(
    browser: UiBrowser, account: Account, key: SoftAuthenticator, password: str = TEST_PASSWORD
) -> httpx.Response:
    token = csrf_of(browser.get("/ui/login"))
    begun = browser.post("/ui/login/key/begin", {"username": account.username, "csrf_token": token})
    assert begun.status_code == 200, begun.text
    credential: dict[str, Any] = key.get(json.dumps(begun.json()["options"]))
    return browser.post(
        "/ui/login/key",
        {
            "username": account.username,
            "password": password,
            "challenge_id": begun.json()["challenge_id"],
            "credential": json.dumps(credential),
            "csrf_token": token,
        },
    )


def signed_in_browser(platform: Platform, account: Account) -> UiBrowser:
    browser = UiBrowser(platform)
    assert browser.sign_in(account).status_code == 303
    return browser


def test_register_a_key_then_sign_in_with_it(platform: Platform, factory: Factory) -> None:
    account = factory.user(factory.lab(), Role.LAB_ADMIN)
    browser = signed_in_browser(platform, account)
    assert "no-keys" in browser.get("/ui/security-keys").text
    key = register_key(browser, platform)
    listed = browser.get("/ui/security-keys").text
    assert "clé du bureau" in listed and "jamais" in listed

    fresh = UiBrowser(platform)
    response = key_sign_in(fresh, account, key)
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    assert fresh.get("/ui/").status_code == 200
    cookie = fresh.session_token
    assert cookie and UiBrowser(platform).get("/api/v1/me", headers=bearer(cookie)).status_code == 401

    refused = key_sign_in(UiBrowser(platform), account, key, password="not the password 1")
    assert refused.status_code == 401 and "Sign-in refused" in refused.text


def test_a_cloned_key_or_replayed_answer_is_refused(platform: Platform, factory: Factory) -> None:
    account = factory.user(factory.lab(), Role.BIOLOGIST)
    key = register_key(signed_in_browser(platform, account), platform)
    clone = dataclasses.replace(key)  # same secret, its own counter, left behind
    assert key_sign_in(UiBrowser(platform), account, key).status_code == 303
    assert key_sign_in(UiBrowser(platform), account, clone).status_code == 401


def test_key_changes_need_a_recent_confirmation(platform: Platform, factory: Factory) -> None:
    clock = FakeClock()
    accounts = AccountService(platform.db, platform.keys, platform.accounts.policy, clock)
    keys = SecurityKeyService(platform.db, accounts, platform.security_keys.rp, clock)
    timed = dataclasses.replace(platform, accounts=accounts, security_keys=keys)
    account = factory.user(factory.lab(), Role.TECHNICIAN)
    browser = signed_in_browser(timed, account)
    clock.advance(minutes=6)
    page = browser.get("/ui/security-keys").text
    assert "reauth-link" in page and "register-key" not in page
    token = browser.page_token("/ui/security-keys")
    assert browser.post("/ui/security-keys/register/begin", {"csrf_token": token}).status_code == 403

    wrong = browser.post(
        "/ui/reauth", {"csrf_token": token, "password": TEST_PASSWORD, "totp_code": "000000"}
    )
    assert wrong.status_code == 401 and "Confirmation refused" in wrong.text
    code = pool_for(timed).fresh_code(account)
    confirmed = browser.post(
        "/ui/reauth", {"csrf_token": token, "password": TEST_PASSWORD, "totp_code": code}
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/ui/security-keys"
    assert "register-key" in browser.get("/ui/security-keys").text
    assert browser.post("/ui/security-keys/register/begin", {"csrf_token": token}).status_code == 200


def test_reauth_and_key_posts_need_the_session_token(platform: Platform, factory: Factory) -> None:
    account = factory.user(factory.lab(), Role.TECHNICIAN)
    browser = signed_in_browser(platform, account)
    for path in ("/ui/security-keys/register/begin", "/ui/reauth"):
        assert browser.post(path, {"password": TEST_PASSWORD, "totp_code": "123456"}).status_code == 403
    begin = browser.post("/ui/login/key/begin", {"username": account.username})
    assert begin.status_code == 403  # the login form's token, bound to the login cookie


def test_removing_a_key(platform: Platform, factory: Factory) -> None:
    account = factory.user(factory.lab(), Role.BIOLOGIST)
    browser = signed_in_browser(platform, account)
    register_key(browser, platform)
    (key,) = platform.security_keys.keys(account)
    other = signed_in_browser(platform, factory.user(factory.lab(), Role.BIOLOGIST))
    assert (
        other.post(f"/ui/security-keys/{key.id}/remove", {"csrf_token": other.page_token()}).status_code
        == 404
    )
    removed = browser.post(f"/ui/security-keys/{key.id}/remove", {"csrf_token": browser.page_token()})
    assert removed.status_code == 303 and not platform.security_keys.keys(account)


def test_a_key_only_role_signs_in_to_the_ui_with_its_key_only(platform: Platform, factory: Factory) -> None:
    policy = dataclasses.replace(platform.accounts.policy, security_key_roles=frozenset({"lab_admin"}))
    accounts = AccountService(platform.db, platform.keys, policy)
    strict = dataclasses.replace(
        platform,
        accounts=accounts,
        security_keys=SecurityKeyService(platform.db, accounts, platform.security_keys.rp),
    )
    admin = factory.user(factory.lab(), Role.LAB_ADMIN)
    key = register_key(signed_in_browser(strict, admin), strict)  # no key yet: the code still works
    assert UiBrowser(strict).sign_in(admin).status_code == 401  # now the code is refused
    assert key_sign_in(UiBrowser(strict), admin, key).status_code == 303


@pytest.mark.parametrize("credential", ["not json", "[1, 2]", '{"id": "x"}'])
def test_a_malformed_answer_is_refused_cleanly(platform: Platform, factory: Factory, credential: str) -> None:
    account = factory.user(factory.lab(), Role.BIOLOGIST)
    browser = UiBrowser(platform)
    token = csrf_of(browser.get("/ui/login"))
    begun = browser.post("/ui/login/key/begin", {"username": account.username, "csrf_token": token})
    response = browser.post(
        "/ui/login/key",
        {
            "username": account.username,
            "password": TEST_PASSWORD,
            "challenge_id": begun.json()["challenge_id"],
            "credential": credential,
            "csrf_token": token,
        },
    )
    assert response.status_code in (401, 422) and "text/html" in response.headers["content-type"]
    assert browser.session_token is None


def key_reauth(browser: UiBrowser, key: SoftAuthenticator, password: str = TEST_PASSWORD) -> httpx.Response:
    token = browser.page_token("/ui/reauth")
    begun = browser.post("/ui/reauth/key/begin", {"csrf_token": token})
    assert begun.status_code == 200, begun.text
    credential = key.get(json.dumps(begun.json()["options"]))
    return browser.post(
        "/ui/reauth/key",
        {
            "csrf_token": token,
            "password": password,
            "challenge_id": begun.json()["challenge_id"],
            "credential": json.dumps(credential),
        },
    )


def test_a_key_only_role_confirms_its_identity_with_its_key(platform: Platform, factory: Factory) -> None:
    """Its code is refused once it has a key: the confirmation page offers the key only, and the
    key confirms (found by review: five refused codes locked such an account out)."""
    clock = FakeClock()
    policy = dataclasses.replace(platform.accounts.policy, security_key_roles=frozenset({"lab_admin"}))
    accounts = AccountService(platform.db, platform.keys, policy, clock)
    strict = dataclasses.replace(
        platform,
        accounts=accounts,
        security_keys=SecurityKeyService(platform.db, accounts, platform.security_keys.rp, clock),
    )
    admin = factory.user(factory.lab(), Role.LAB_ADMIN)
    key = register_key(signed_in_browser(strict, admin), strict)
    browser = UiBrowser(strict)
    assert key_sign_in(browser, admin, key).status_code == 303
    clock.advance(minutes=6)
    page = browser.get("/ui/reauth").text
    assert "reauth-key" in page and 'id="reauth-code"' not in page
    assert key_reauth(browser, key, password="not the password 1").status_code == 401
    confirmed = key_reauth(browser, key)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/ui/security-keys"
    assert "register-key" in browser.get("/ui/security-keys").text
