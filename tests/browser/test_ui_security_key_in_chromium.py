"""Security keys in Chromium, with its virtual authenticator (DevTools WebAuthn domain): a lab
admin registers a key on the security-keys page (the page's script runs
navigator.credentials.create) and signs in with password + key (navigator.credentials.get).
WebAuthn needs a domain, not an IP: the page is opened as http://localhost:<port>."""

from __future__ import annotations

import dataclasses

from playwright.sync_api import Browser, expect

from labvault.identity.security_keys import SecurityKeyService
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.webauthn_factor import RelyingParty
from labvault.web.app import create_app
from tests.auth_helpers import pool_for
from tests.browser.conftest import LiveServer
from tests.factories import TEST_PASSWORD, Factory
from tests.web.test_live_server import free_port

VIRTUAL_KEY = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def test_register_a_key_and_sign_in_with_it(platform: Platform, factory: Factory, browser: Browser) -> None:
    port = free_port()
    origin = f"http://localhost:{port}"
    relying_party = RelyingParty("localhost", "labvault", origin)
    keyed = dataclasses.replace(
        platform, security_keys=SecurityKeyService(platform.db, platform.accounts, relying_party)
    )
    admin = factory.user(factory.lab(), Role.LAB_ADMIN)
    with LiveServer(create_app(keyed), port, host_name="localhost") as server:
        context = browser.new_context()
        page = context.new_page()
        devtools = context.new_cdp_session(page)
        devtools.send("WebAuthn.enable")
        added = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_KEY})
        try:
            page.goto(f"{server.url}/ui/login")
            page.fill("#username", admin.username)
            page.fill("#password", TEST_PASSWORD)
            page.fill("#totp_code", pool_for(platform).fresh_code(admin))
            page.click("#sign-in")
            expect(page).to_have_url(f"{server.url}/ui/")

            page.click("text=Clés de sécurité")
            page.fill("#key-label", "clé USB du bureau")
            page.click("#register-key")
            expect(page.locator("#keys")).to_contain_text("clé USB du bureau")
            stored = devtools.send("WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]})
            assert len(stored["credentials"]) == 1

            page.click("#logout")
            expect(page).to_have_url(f"{server.url}/ui/login")
            page.fill("#key-username", admin.username)
            page.fill("#key-password", TEST_PASSWORD)
            page.click("#sign-in-key")
            expect(page).to_have_url(f"{server.url}/ui/")
            expect(page.locator("main")).to_contain_text(admin.username)
        finally:
            context.close()
    (key,) = platform.security_keys.keys(admin)
    assert key.label == "clé USB du bureau" and key.last_used_at is not None
