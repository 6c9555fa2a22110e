"""A scripted browser for the UI's server side: a test client on https://testserver (the cookies
are Secure), that reads the CSRF token out of each page and signs in with both factors."""

from __future__ import annotations

import re
from typing import Any

import httpx

from labvault.identity.accounts import Account
from labvault.platform import Platform
from labvault.web.app import create_app
from labvault.web.ui.cookies import SESSION_COOKIE
from tests.auth_helpers import pool_for
from tests.factories import TEST_PASSWORD
from tests.web.support import TestClient

ORIGIN = "https://testserver"
SAME_ORIGIN = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, f"no CSRF token in the page: {page.text[:300]}"
    return found.group(1)


class UiBrowser:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.client = TestClient(create_app(platform), base_url=ORIGIN, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(path, data=data, headers=SAME_ORIGIN if headers is None else headers)

    def sign_in(self, account: Account, password: str = TEST_PASSWORD) -> httpx.Response:
        form = self.get("/ui/login")
        assert form.status_code == 200, form.text
        code = pool_for(self.platform).fresh_code(account)
        return self.post(
            "/ui/login",
            {
                "username": account.username,
                "password": password,
                "totp_code": code,
                "csrf_token": csrf_of(form),
            },
        )

    def plant(self, token: str) -> None:
        """Put ``token`` in this browser's session cookie, as the server would have set it."""
        self.client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")

    @property
    def session_token(self) -> str | None:
        return self.client.cookies.get(SESSION_COOKIE)

    def page_token(self, path: str = "/ui/") -> str:
        """The CSRF token of the forms of a page of the current session."""
        page = self.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page)
