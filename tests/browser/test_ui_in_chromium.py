"""The browser UI in Chromium: a receptionist signs in with both factors, finds a patient, opens
the record and signs out; the session cookie is out of scripts' reach; a page of another origin
on the same machine (same site: SameSite lets the cookie through) cannot make the signed-in
browser post anything."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from starlette.responses import HTMLResponse
from starlette.types import Receive, Scope, Send

from labvault.identity.accounts import Account, context_for
from labvault.identity.patient_data import PatientRecord
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.ui.cookies import SESSION_COOKIE
from tests.auth_helpers import pool_for
from tests.browser.conftest import LiveServer
from tests.factories import TEST_PASSWORD, Factory


@dataclass
class Scene:
    platform: Platform
    server: LiveServer
    page: Page
    context: BrowserContext
    reception: Account
    patient: PatientRecord

    def sign_in(self) -> None:
        self.page.goto(f"{self.server.url}/ui/")
        expect(self.page).to_have_url(f"{self.server.url}/ui/login")
        self.page.fill("#username", self.reception.username)
        self.page.fill("#password", TEST_PASSWORD)
        self.page.fill("#totp_code", pool_for(self.platform).fresh_code(self.reception))
        self.page.click("#sign-in")
        expect(self.page).to_have_url(f"{self.server.url}/ui/")

    def signed_in(self) -> bool:
        self.page.goto(f"{self.server.url}/ui/")
        return self.page.url == f"{self.server.url}/ui/"


@pytest.fixture
def scene(
    platform: Platform, factory: Factory, browser: Browser, live_labvault: LiveServer
) -> Iterator[Scene]:
    lab = factory.lab()
    reception = factory.user(lab, Role.RECEPTION)
    patient = platform.patients.register(context_for(reception), factory.patient_data())
    context = browser.new_context()
    try:
        yield Scene(platform, live_labvault, context.new_page(), context, reception, patient)
    finally:
        context.close()


def test_a_receptionist_finds_a_patient_and_signs_out(scene: Scene, tmp_path: Path) -> None:
    page = scene.page
    scene.sign_in()
    expect(page.locator("main")).to_contain_text(scene.reception.username)

    page.click("text=Rechercher un patient")
    assert scene.patient.data.nir is not None
    page.fill("#nir", scene.patient.data.nir)
    page.click("#search")
    expect(page.locator("#results")).to_contain_text(scene.patient.data.birth_name)
    assert scene.patient.data.nir not in page.url  # searches are POSTs
    page.click(f"a[href='/ui/patients/{scene.patient.id}']")
    expect(page.locator("#patient-name")).to_contain_text(scene.patient.data.birth_name)
    page.screenshot(path=str(tmp_path / "patient.png"))

    page.click("#logout")
    expect(page).to_have_url(f"{scene.server.url}/ui/login")
    assert not scene.signed_in()


def test_the_session_cookie_is_out_of_scripts_reach(scene: Scene) -> None:
    scene.sign_in()
    cookies = {c["name"]: c for c in scene.context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert session["expires"] == -1  # ends with the browser; the server ends it sooner
    assert SESSION_COOKIE not in scene.page.evaluate("document.cookie")


def test_the_pages_run_no_script(scene: Scene) -> None:
    """The Content-Security-Policy forbids scripts: one slipped into a page would not run."""
    scene.sign_in()
    violations: list[str] = []
    scene.page.on("console", lambda message: violations.append(message.text))
    scene.page.set_content("<p>x</p>")  # about:blank has no CSP: reload a real page instead
    scene.page.goto(f"{scene.server.url}/ui/")
    ran = scene.page.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                   document.body.appendChild(s); return window.__ran === 1; }"""
    )
    assert ran is False
    assert any("Content Security Policy" in text for text in violations)


def forging_page(target: str, fields: dict[str, str]) -> LiveServer:
    """Another origin on this machine (another port: same site) whose page posts a form to
    ``target`` as soon as it loads: what a malicious page open in another tab would do."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    submit = "<script>document.forms[0].submit()</script>"
    body = f'<form method="post" action="{html.escape(target)}">{inputs}</form>{submit}'

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await HTMLResponse(body)(scope, receive, send)

    return LiveServer(app)


@pytest.mark.parametrize("token", ["", "guessed-token"])
def test_another_origin_cannot_post_as_the_user(scene: Scene, token: str) -> None:
    scene.sign_in()
    with forging_page(f"{scene.server.url}/ui/logout", {"csrf_token": token}) as evil:
        with scene.page.expect_response(f"{scene.server.url}/ui/logout") as posted:
            scene.page.goto(evil.url)
        assert posted.value.status == 403
        expect(scene.page.locator("#error-message")).to_contain_text("cross-origin request refused")
    assert scene.signed_in(), "the forged logout must not have ended the session"
