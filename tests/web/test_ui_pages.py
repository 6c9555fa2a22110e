"""The browser UI's pages over the real services: patient search (audited like the API's), the
record, its access log, the security officer's alerts; errors as pages; every value escaped."""

from __future__ import annotations

import dataclasses
import html
import uuid

import pytest
from sqlalchemy import select

from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientRecord
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.alert_models import Alert
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from tests.conftest import forget_account_alerts
from tests.db_inspect import audit_actions
from tests.factories import Factory
from tests.web.support import TwoLabs
from tests.web.ui_support import UiBrowser


@dataclasses.dataclass
class World:
    platform: Platform
    factory: Factory
    lab: LabInfo
    reception: Account
    biologist: Account
    admin: Account
    patient: PatientRecord

    def browser(self, account: Account) -> UiBrowser:
        browser = UiBrowser(self.platform)
        assert browser.sign_in(account).status_code == 303
        return browser


@pytest.fixture
def world(platform: Platform, factory: Factory) -> World:
    lab = factory.lab()
    reception = factory.user(lab, Role.RECEPTION)
    patient = platform.patients.register(context_for(reception), factory.patient_data())
    built = World(
        platform,
        factory,
        lab,
        reception,
        factory.user(lab, Role.BIOLOGIST),
        factory.user(lab, Role.LAB_ADMIN),
        patient,
    )
    forget_account_alerts(platform, lab.id)
    return built


def search(browser: UiBrowser, **fields: str) -> str:
    response = browser.post("/ui/patients/search", {"csrf_token": browser.page_token(), **fields})
    assert response.status_code == 200, response.text
    return response.text


def test_search_by_nir_finds_the_patient_and_is_audited(world: World) -> None:
    browser = world.browser(world.reception)
    assert world.patient.data.nir is not None
    found = search(browser, nir=world.patient.data.nir)
    assert html.escape(world.patient.data.birth_name) in found
    assert f"/ui/patients/{world.patient.id}" in found
    assert "patient.search_hit" in audit_actions(world.platform, world.lab.id)
    assert world.patient.data.nir not in browser.get("/ui/patients/search").text  # not kept anywhere


def test_search_by_name_and_birth_date(world: World) -> None:
    data = world.patient.data
    found = search(
        world.browser(world.reception), name=data.birth_name, birth_date=data.birth_date.isoformat()
    )
    assert f"/ui/patients/{world.patient.id}" in found
    nothing = search(world.browser(world.reception), name="Zzyzx", birth_date="1901-01-01")
    assert "Aucun patient" in nothing


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "nir"),
        ({"name": "Martin"}, "nir"),
        ({"name": "Martin", "birth_date": "31/12/1980"}, "birth_date"),
    ],
)
def test_incomplete_search_is_a_page_naming_the_field(
    world: World, fields: dict[str, str], field: str
) -> None:
    browser = world.browser(world.reception)
    response = browser.post("/ui/patients/search", {"csrf_token": browser.page_token(), **fields})
    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"] and field in response.text


def test_nul_in_a_form_field_is_refused_by_name(world: World) -> None:
    browser = world.browser(world.reception)
    response = browser.post("/ui/patients/search", {"csrf_token": browser.page_token(), "nir": "1\x0023"})
    assert response.status_code == 422 and "nir" in response.text


def test_patient_page_shows_the_record_and_other_labs_get_404(world: World, two_labs: TwoLabs) -> None:
    page = world.browser(world.reception).get(f"/ui/patients/{world.patient.id}")
    assert page.status_code == 200
    assert html.escape(world.patient.data.first_names) in page.text
    assert "access-log" not in page.text  # reception may not read the access log
    stranger = world.browser(two_labs.other(Role.BIOLOGIST))
    refused = stranger.get(f"/ui/patients/{world.patient.id}")
    assert refused.status_code == 404 and world.patient.data.birth_name not in refused.text
    assert world.browser(world.reception).get(f"/ui/patients/{uuid.uuid4()}").status_code == 404


def test_access_log_page_lists_the_readers(world: World) -> None:
    world.browser(world.reception).get(f"/ui/patients/{world.patient.id}")
    biologist = world.browser(world.biologist)
    assert "access-log" in biologist.get(f"/ui/patients/{world.patient.id}").text
    log = biologist.get(f"/ui/patients/{world.patient.id}/access-log")
    assert log.status_code == 200
    assert world.reception.username in log.text or "Accueil" in log.text
    refused = world.browser(world.reception).get(f"/ui/patients/{world.patient.id}/access-log")
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]


def test_values_are_escaped(world: World) -> None:
    """A hostile value stored in a record is shown as text, never as markup."""
    data = dataclasses.replace(world.factory.patient_data(), address='<script>alert("x")</script> 1 rue')
    record = world.platform.patients.register(context_for(world.reception), data)
    page = world.browser(world.reception).get(f"/ui/patients/{record.id}")
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


def test_security_officer_sees_and_acknowledges_alerts(world: World) -> None:
    with world.platform.db.transaction(world.lab.id) as session:
        alert_id = raise_alert(
            session,
            context_for(world.reception),
            AlertSpec("read_budget", Severity.HIGH, {"distinct_patients": 61}),
        )
    admin = world.browser(world.admin)
    listed = admin.get("/ui/alerts")
    assert (
        listed.status_code == 200 and "read_budget" in listed.text and world.reception.username in listed.text
    )
    acknowledged = admin.post(
        f"/ui/alerts/{alert_id}/acknowledge", {"csrf_token": admin.page_token("/ui/alerts")}
    )
    assert acknowledged.status_code == 303
    with world.platform.db.owner_engine.connect() as conn:
        by = conn.execute(
            select(Alert.__table__.c.acknowledged_by).where(Alert.__table__.c.id == alert_id)
        ).scalar()
    assert by == world.admin.id
    assert "no-alerts" in admin.get("/ui/alerts").text
    assert "read_budget" in admin.get("/ui/alerts?all=true").text
    refused = world.browser(world.reception).get("/ui/alerts")
    assert refused.status_code == 403


def test_acknowledge_without_token_changes_nothing(world: World) -> None:
    with world.platform.db.transaction(world.lab.id) as session:
        alert_id = raise_alert(session, context_for(world.reception), AlertSpec("off_hours", Severity.LOW))
    admin = world.browser(world.admin)
    assert admin.post(f"/ui/alerts/{alert_id}/acknowledge", {}).status_code == 403
    assert "off_hours" in admin.get("/ui/alerts").text  # still open


def test_menu_follows_the_role(world: World) -> None:
    reception_home = world.browser(world.reception).get("/ui/").text
    admin_home = world.browser(world.admin).get("/ui/").text
    assert "/ui/alerts" not in reception_home and "/ui/patients/search" in reception_home
    assert "/ui/alerts" in admin_home
