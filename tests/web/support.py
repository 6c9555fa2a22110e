"""Helpers shared by the web API tests: the test client, auth headers, payloads, PDF downloads, and
:class:`TwoLabs`, the two-lab world of the isolation tests (the ``two_labs`` fixture).

What the database holds is read with tests/db_inspect.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update

from labvault.identity.accounts import Account
from labvault.identity.lab_service import LabInfo
from labvault.identity.models import ApiToken
from labvault.identity.patient_data import PatientData
from labvault.oversight.refusals import RefusalService
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.store.base import utcnow
from labvault.web.app import create_app
from tests.auth_helpers import mark_reauthenticated
from tests.factories import LOCAL, STAFF_ROLES, Bench, Factory
from tests.pdf import pdf_text

with warnings.catch_warnings():
    # Starlette warns when it falls back from ``httpx2`` to ``httpx`` (the pinned dependency);
    # the suite turns warnings into errors, and the fallback is exactly what we want here.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "API",
    "LAB_ROLES",
    "TestClient",
    "TwoLabs",
    "app_client",
    "assert_no_store",
    "assert_pdf_download",
    "bearer",
    "expire_token",
    "patient_json",
    "token_for",
]

API = "/api/v1"
LAB_ROLES = (*STAFF_ROLES, Role.LAB_ADMIN)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(platform: Platform, account: Account, hours: int = 1, *, recent_auth: bool = False) -> str:
    """A script token, as ``labvault token create`` makes; ``recent_auth``: as if its holder had
    just re-authenticated (for routes behind re-authentication that a test is not about)."""
    token = platform.accounts.issue_token(account, "test", dt.timedelta(hours=hours)).token
    if recent_auth:
        mark_reauthenticated(platform, token)
    return token


def app_client(
    platform: Platform, *, origin: str = "testclient", **settings: Any
) -> contextlib.AbstractContextManager[TestClient]:
    """A test client of an application over ``platform``, with settings overridden (e.g. the
    login rate limit) and requests coming from ``origin``."""
    if settings:
        changed = platform.settings.model_copy(update=settings)
        # The refusal counts take their thresholds from the settings they are built with.
        # So do the login limit's bounds (its hits are the database's: shared by every app on it).
        platform = dataclasses.replace(
            platform,
            settings=changed,
            refusals=RefusalService(platform.db, changed),
            login_limit=platform.login_limit.configured(
                changed.login_rate_limit, changed.login_rate_window_seconds
            ),
        )
    return TestClient(create_app(platform), client=(origin, 50000))


def expire_token(platform: Platform, token_id: uuid.UUID) -> None:
    """Move a token's expiry into the past (tokens cannot be issued with a TTL under a minute)."""
    past = utcnow() - dt.timedelta(minutes=5)
    with platform.db.engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(expires_at=past))


def patient_json(data: PatientData, **extra: Any) -> dict[str, Any]:
    """The JSON body POST /api/v1/patients expects for ``data`` (None fields left out)."""
    body: dict[str, Any] = {}
    for name, value in dataclasses.asdict(data).items():
        if value is None:
            continue
        body[name] = value.isoformat() if isinstance(value, dt.date) else value
    body.update(extra)
    return body


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", (
        f"{response.request.method} {response.request.url.path} -> {response.status_code} "
        f"has Cache-Control {response.headers.get('cache-control')!r}"
    )


# --- workflow -------------------------------------------------------------------------------------


def assert_pdf_download(response: httpx.Response, filename: str) -> str:
    """A PDF attachment named by accession or version, never cached; returns its text."""
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert_no_store(response)
    assert response.content.startswith(b"%PDF")
    return pdf_text(response.content)


@dataclass
class TwoLabs:
    """Lab A, whose data a test reads, and lab B, each with one account in every lab role; a
    platform operator; an API token for each of them; and a test client that sends no token unless
    a request adds one (the anonymous caller). Isolation tests try lab A's objects as lab B (404),
    as the operator (403, no patient permission) and as no one (401)."""

    platform: Platform
    factory: Factory
    client: TestClient
    lab_a: LabInfo
    lab_b: LabInfo
    accounts: dict[tuple[str, Role], Account]  # ("a" or "b", role)
    operator: Account
    tokens: dict[uuid.UUID, str]  # account id -> its API token

    @classmethod
    @contextlib.contextmanager
    def open(cls, platform: Platform, **settings: Any) -> Iterator[TwoLabs]:
        """Build the labs and their accounts, and serve them (``settings``: see :func:`app_client`)."""
        factory = Factory(platform)
        lab_a, lab_b = factory.lab("Laboratoire A"), factory.lab("Laboratoire B")
        accounts = {
            (side, role): factory.user(lab, role)
            for side, lab in (("a", lab_a), ("b", lab_b))
            for role in LAB_ROLES
        }
        operator = factory.user(None, Role.PLATFORM_OPERATOR)
        tokens = {account.id: token_for(platform, account) for account in [*accounts.values(), operator]}
        with app_client(platform, **settings) as client:
            yield cls(platform, factory, client, lab_a, lab_b, accounts, operator, tokens)

    def owner(self, role: Role) -> Account:
        """Lab A's account in ``role``."""
        return self.accounts[("a", role)]

    def other(self, role: Role) -> Account:
        """Lab B's account in ``role``."""
        return self.accounts[("b", role)]

    def auth(self, account: Account) -> dict[str, str]:
        """The Authorization header of ``account``'s token."""
        return bearer(self.tokens[account.id])

    def bench(self, side: str = "a") -> Bench:
        """A workflow bench over that lab's staff accounts, acting from ``local`` (no network
        origin), so that the setup leaves the accounts' usual origins to the requests."""
        lab = self.lab_a if side == "a" else self.lab_b
        return Bench(self.factory, lab, {role: self.accounts[(side, role)] for role in STAFF_ROLES}, LOCAL)
