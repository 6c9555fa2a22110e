"""Every page of the browser UI, as every kind of caller: anonymous (sent to sign in, or refused),
a user of another lab (the lab's records do not exist for them), and the lab's own user. The
table must name every UI route the application serves: a new page without a row fails here."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.store.base import utcnow
from labvault.web.app import create_app
from tests.factories import Factory
from tests.soft_authenticator import SoftAuthenticator
from tests.web.isolation.support import enumerate_routes, fastapi_app
from tests.web.ui_support import UiBrowser


@dataclass
class Lab:
    info: LabInfo
    biologist: Account
    admin: Account
    patient_id: uuid.UUID
    patient_name: str
    alert_id: uuid.UUID
    key_id: uuid.UUID


def lab_with_data(platform: Platform, factory: Factory) -> Lab:
    info = factory.lab()
    reception = factory.user(info, Role.RECEPTION)
    patient = platform.patients.register(context_for(reception), factory.patient_data())
    with platform.db.transaction(info.id) as session:
        alert = raise_alert(session, context_for(reception), AlertSpec("off_hours", Severity.LOW))
    biologist, admin = factory.user(info, Role.BIOLOGIST), factory.user(info, Role.LAB_ADMIN)
    return Lab(
        info,
        biologist,
        admin,
        patient.id,
        patient.data.birth_name,
        alert,
        registered_key(platform, biologist),
    )


def registered_key(platform: Platform, account: Account) -> uuid.UUID:
    """A security key of ``account``, registered through the service (as if just re-authenticated)."""
    recent = dataclasses.replace(account, reauthenticated_at=utcnow())
    ceremony = platform.security_keys.begin_registration(recent)
    credential = SoftAuthenticator(platform.settings.webauthn_origin).create(ceremony.options_json)
    return platform.security_keys.finish_registration(recent, ceremony.challenge_id, credential, "clé").id


@dataclass(frozen=True)
class Page:
    method: str
    path: str  # the route's template
    url: Callable[[Lab], str]
    anonymous: int  # 303 (to sign in) or the refusal
    stranger: int  # a signed-in user of another lab, on this lab's record
    owner: int
    form: Callable[[Lab], dict[str, str]] = lambda _lab: {}


LOGIN_FIELDS = {"username": "someone", "password": "a password", "totp_code": "123456"}
KEY_FIELDS = {**LOGIN_FIELDS, "challenge_id": str(uuid.uuid4()), "credential": "{}"}
PAGES = [
    Page("GET", "/ui/login", lambda _: "/ui/login", 200, 303, 303),  # signed in: sent home
    Page(
        "POST", "/ui/login", lambda _: "/ui/login", 403, 403, 403, lambda _: LOGIN_FIELDS
    ),  # no login cookie
    Page("POST", "/ui/logout", lambda _: "/ui/logout", 303, 303, 303),
    Page("GET", "/ui/static/ui.css", lambda _: "/ui/static/ui.css", 200, 200, 200),
    Page("GET", "/ui/static/webauthn.js", lambda _: "/ui/static/webauthn.js", 200, 200, 200),
    Page(
        "POST", "/ui/login/key/begin", lambda _: "/ui/login/key/begin", 403, 403, 403, lambda _: LOGIN_FIELDS
    ),
    Page("POST", "/ui/login/key", lambda _: "/ui/login/key", 403, 403, 403, lambda _: KEY_FIELDS),
    Page("GET", "/ui/security-keys", lambda _: "/ui/security-keys", 303, 200, 200),
    Page(
        "POST",
        "/ui/security-keys/register/begin",
        lambda _: "/ui/security-keys/register/begin",
        303,
        200,
        200,
    ),
    # A challenge id of nobody's: 422 (the answer is checked against the stored challenge).
    Page(
        "POST",
        "/ui/security-keys/register",
        lambda _: "/ui/security-keys/register",
        303,
        422,
        422,
        lambda _: KEY_FIELDS,
    ),
    Page(
        "POST",
        "/ui/security-keys/{key_id}/remove",
        lambda lab: f"/ui/security-keys/{lab.key_id}/remove",
        303,
        404,
        303,
    ),
    Page("GET", "/ui/reauth", lambda _: "/ui/reauth", 303, 200, 200),
    Page("POST", "/ui/reauth/key/begin", lambda _: "/ui/reauth/key/begin", 303, 200, 200),
    Page("POST", "/ui/reauth/key", lambda _: "/ui/reauth/key", 303, 401, 401, lambda _: KEY_FIELDS),
    Page("POST", "/ui/reauth", lambda _: "/ui/reauth", 303, 401, 401, lambda _: LOGIN_FIELDS),
    Page("GET", "/ui/", lambda _: "/ui/", 303, 200, 200),
    Page("GET", "/ui/patients/search", lambda _: "/ui/patients/search", 303, 200, 200),
    Page(
        "POST", "/ui/patients/search", lambda _: "/ui/patients/search", 303, 200, 200, lambda _: {"nir": ""}
    ),
    Page("GET", "/ui/patients/{patient_id}", lambda lab: f"/ui/patients/{lab.patient_id}", 303, 404, 200),
    Page(
        "GET",
        "/ui/patients/{patient_id}/access-log",
        lambda lab: f"/ui/patients/{lab.patient_id}/access-log",
        303,
        404,
        200,
    ),
    Page("GET", "/ui/alerts", lambda _: "/ui/alerts", 303, 200, 200),
    Page(
        "POST",
        "/ui/alerts/{alert_id}/acknowledge",
        lambda lab: f"/ui/alerts/{lab.alert_id}/acknowledge",
        303,
        404,
        303,
    ),
]
# Rows whose owner's request changes the lab's data (a key removed, an alert acknowledged) get labs of
# their own; the others share two labs per module (building them is most of a row's time).
CHANGES_DATA = {("POST", "/ui/security-keys/{key_id}/remove"), ("POST", "/ui/alerts/{alert_id}/acknowledge")}
# The search with an empty form is a 422 page for those signed in: the row checks who gets past
# the session, so it sends an empty NIR and expects the 422 below instead of 200.
EMPTY_SEARCH_STATUS = 422


def test_every_ui_route_has_a_row(platform: Platform) -> None:
    served = {key for key in enumerate_routes(fastapi_app(create_app(platform))) if key[1].startswith("/ui/")}
    assert served == {(p.method, p.path) for p in PAGES}


def send(browser: UiBrowser, page: Page, lab: Lab) -> httpx.Response:
    if page.method == "GET":
        return browser.get(page.url(lab))
    token = {"csrf_token": browser.page_token()} if browser.session_token else {}
    return browser.post(page.url(lab), {**token, **page.form(lab)})


def expected(page: Page, status: int) -> int:
    return (
        EMPTY_SEARCH_STATUS
        if page.path == "/ui/patients/search" and page.method == "POST" and status == 200
        else status
    )


@pytest.fixture(scope="module")
def shared_labs(platform: Platform) -> tuple[Lab, Lab]:
    factory = Factory(platform)
    return lab_with_data(platform, factory), lab_with_data(platform, factory)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.method} {p.path}")
def test_each_caller_gets_what_the_row_says(
    platform: Platform, factory: Factory, shared_labs: tuple[Lab, Lab], page: Page
) -> None:
    if (page.method, page.path) in CHANGES_DATA:
        here, elsewhere = lab_with_data(platform, factory), lab_with_data(platform, factory)
    else:
        here, elsewhere = shared_labs
    anonymous = UiBrowser(platform)
    response = send(anonymous, page, here)
    assert response.status_code == page.anonymous, response.text[:300]
    if page.anonymous == 303:
        assert response.headers["location"] in ("/ui/login", "/ui/login?ended=1")

    # A biologist or admin of another lab (the security officer for alerts), on this lab's ids.
    stranger_account = elsewhere.admin if "alerts" in page.path else elsewhere.biologist
    stranger = UiBrowser(platform)
    assert stranger.sign_in(stranger_account).status_code == 303
    response = send(stranger, page, here)
    assert response.status_code == expected(page, page.stranger), response.text[:300]
    assert here.patient_name not in response.text

    owner_account = here.admin if "alerts" in page.path else here.biologist
    owner = UiBrowser(platform)
    assert owner.sign_in(owner_account).status_code == 303
    assert send(owner, page, here).status_code == expected(page, page.owner)
