"""Refused requests are audited on the caller's chain and repeated probing raises a high alert
(issue 10, finding 9: 175 cross-lab requests of the probe left no trace)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from labvault.oversight import refusals
from labvault.oversight.refusals import PROBING, REFUSED
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.audit import AuditUnavailable
from labvault.security.monitor import install
from labvault.store.base import utcnow
from tests.db_inspect import alerts, audit_count, audit_events
from tests.factories import Factory
from tests.web.support import API, TwoLabs, app_client, bearer, token_for
from tests.web.ui_support import UiBrowser

PATIENT_ROUTE = f"{API}/patients/{{patient_id}}"


def refusal_events(platform: Platform, lab_id: uuid.UUID | None, actor_id: uuid.UUID) -> list[Any]:
    """The actor's refusals on a chain (``None``: the platform chain), oldest first."""
    return audit_events(platform, lab_id, REFUSED, actor_id=actor_id)


@pytest.fixture
def client(platform: Platform) -> Iterator[Any]:
    with app_client(platform) as test_client:
        yield test_client


def test_probing_another_labs_ids_is_recorded_and_alerted(two_labs: TwoLabs) -> None:
    """The probe's steps: a lab B user asks for 20 of lab A's patients one by one (404 each)."""
    platform, client, factory = two_labs.platform, two_labs.client, two_labs.factory
    lab_a, lab_b = two_labs.lab_a, two_labs.lab_b
    reception_a = two_labs.bench().reception
    ids = [platform.patients.register(reception_a, factory.patient_data()).id for _ in range(20)]
    prober = two_labs.other(Role.RECEPTION)
    headers = two_labs.auth(prober)
    chain_a = audit_count(platform, lab_a.id)
    for patient_id in ids:
        response = client.get(f"{API}/patients/{patient_id}", headers=headers)
        assert response.status_code == 404
    events = refusal_events(platform, lab_b.id, prober.id)
    assert [(e.object_type, e.object_id) for e in events] == [("patient", str(i)) for i in ids]
    for event in events:
        assert event.detail["route"] == PATIENT_ROUTE and event.detail["status"] == 404
        assert event.detail["target"] == {"patient_id": event.object_id}
        assert event.patient_id is None  # a refused request read no one
    assert audit_count(platform, lab_a.id) == chain_a  # nothing written in the lab probed
    (alert,) = alerts(platform, lab_id=lab_b.id, kind=PROBING)
    assert (alert.severity, alert.actor_id) == ("high", prober.id)
    assert alert.detail["refusals"] == 20 and alert.detail["route"] == PATIENT_ROUTE
    assert alerts(platform, lab_id=lab_a.id, kind=PROBING) == []
    client.get(f"{API}/patients/{uuid.uuid4()}", headers=headers)  # one alert per window, not per refusal
    assert len(alerts(platform, lab_id=lab_b.id, kind=PROBING)) == 1


def test_repeats_are_coalesced_and_still_count(platform: Platform, client: Any) -> None:
    """Asking for the same id over and over writes one event a minute, and still trips the alert."""
    factory = Factory(platform)
    lab = factory.lab()
    user = factory.user(lab, Role.TECHNICIAN)
    headers = bearer(token_for(platform, user))
    target = uuid.uuid4()
    for _ in range(25):
        assert client.get(f"{API}/orders/{target}", headers=headers).status_code == 404
    (event,) = refusal_events(platform, lab.id, user.id)
    assert (event.object_type, event.object_id, event.detail["route"]) == (
        "order",
        str(target),
        f"{API}/orders/{{order_id}}",
    )
    (alert,) = alerts(platform, lab_id=lab.id, kind=PROBING)
    assert alert.actor_id == user.id


def test_a_flood_of_distinct_ids_is_capped_per_minute(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    user = factory.user(lab, Role.RECEPTION)
    headers = bearer(token_for(platform, user))
    start = utcnow()
    monkeypatch.setattr(refusals, "utcnow", lambda: start)
    with app_client(platform, refusal_events_per_minute=5, refusal_alert_count=1000) as client:
        for _ in range(12):
            assert client.get(f"{API}/patients/{uuid.uuid4()}", headers=headers).status_code == 404
        assert len(refusal_events(platform, lab.id, user.id)) == 5
        # The next minute: the count of what was not written travels with the next event.
        monkeypatch.setattr(refusals, "utcnow", lambda: start + refusals.MINUTE)
        client.get(f"{API}/patients/{uuid.uuid4()}", headers=headers)
    events = refusal_events(platform, lab.id, user.id)
    assert len(events) == 6 and events[-1].detail["unrecorded"] == 7


def test_an_operators_refusal_is_on_the_platform_chain(platform: Platform, client: Any) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    patient = platform.patients.register(factory.ctx(lab), factory.patient_data())
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    headers = bearer(token_for(platform, operator))
    chain = audit_count(platform, lab.id)
    response = client.get(f"{API}/patients/{patient.id}", headers=headers)
    assert response.status_code == 403
    (event,) = refusal_events(platform, None, operator.id)
    assert event.lab_id is None and event.role == "platform_operator"
    assert event.detail == {
        "route": PATIENT_ROUTE,
        "method": "GET",
        "status": 403,
        "target": {"patient_id": str(patient.id)},
    }
    assert audit_count(platform, lab.id) == chain


def test_a_refusal_stays_a_refusal_when_it_cannot_be_audited(
    platform: Platform, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    user = factory.user(lab, Role.RECEPTION)
    headers = bearer(token_for(platform, user))

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise AuditUnavailable("audit chain cannot be written")

    monkeypatch.setattr(refusals.audit, "append", broken)
    response = client.get(f"{API}/patients/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 404 and "no patient" in response.json()["detail"]
    assert refusal_events(platform, lab.id, user.id) == []


def test_a_budget_refusal_names_its_route(platform: Platform, client: Any) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    reception = factory.ctx(lab)
    ids = [platform.patients.register(reception, factory.patient_data()).id for _ in range(3)]
    reader = factory.user(lab, Role.RECEPTION)
    headers = bearer(token_for(platform, reader))
    small = {"read_budget_soft": {"reception": 1}, "read_budget_hard": {"reception": 2}}
    install(platform.db, platform.settings.model_copy(update=small))
    try:
        statuses = [client.get(f"{API}/patients/{i}", headers=headers).status_code for i in ids]
    finally:
        install(platform.db, platform.settings)
    assert statuses == [200, 200, 429]
    (event,) = refusal_events(platform, lab.id, reader.id)
    assert (event.detail["status"], event.detail["route"], event.object_id) == (
        429,
        PATIENT_ROUTE,
        str(ids[2]),
    )


def test_the_browser_uis_refusals_are_recorded_but_not_forged_ones(platform: Platform) -> None:
    """A UI page asking for another lab's patient is the user's refusal; a POST refused for its
    origin may have been forged by another page in their browser: not held against them."""
    factory = Factory(platform)
    lab = factory.lab()
    user = factory.user(lab, Role.RECEPTION)
    browser = UiBrowser(platform)
    assert browser.sign_in(user).status_code == 303
    target = uuid.uuid4()
    assert browser.get(f"/ui/patients/{target}").status_code == 404
    assert browser.post("/ui/logout", {"csrf_token": "forged"}).status_code == 403
    (event,) = refusal_events(platform, lab.id, user.id)
    assert (event.detail["route"], event.object_id) == ("/ui/patients/{patient_id}", str(target))
