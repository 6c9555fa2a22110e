"""/api/v1/incidents as the lab's security officer: open, the deadline in the answer, affected
patients from the audit log, notify, and the drafts (the isolation matrix checks who may not)."""

from __future__ import annotations

import datetime as dt

from labvault.identity.accounts import context_for
from labvault.security.access import Role
from tests.factories import Factory
from tests.pdf import pdf_text
from tests.web.support import API, TwoLabs

INCIDENTS = f"{API}/incidents"


def test_the_officer_runs_a_breach_response(two_labs: TwoLabs) -> None:
    platform, client = two_labs.platform, two_labs.client
    admin = two_labs.auth(two_labs.owner(Role.LAB_ADMIN))
    reception = context_for(two_labs.owner(Role.RECEPTION))
    factory = Factory(platform)
    patients = [platform.patients.register(reception, factory.patient_data()) for _ in range(2)]
    start = dt.datetime.now(dt.UTC)
    for record in patients:
        platform.patients.get(reception, record.id)
    discovered = dt.datetime.now(dt.UTC) - dt.timedelta(hours=10)
    body = {
        "discovered_at": discovered.isoformat(),
        "nature": ["confidentiality", "availability"],
        "details": {"summary": "Poste de l'accueil volé.", "dpo_contact": "DPO du laboratoire"},
        "records_approx": 30,
    }
    response = client.post(INCIDENTS, json=body, headers=admin)
    assert response.status_code == 201, response.text
    incident = response.json()
    assert incident["status"] == "open" and incident["nature"] == ["confidentiality", "availability"]
    assert 61 * 3600 < incident["deadline"]["seconds_left"] <= 62 * 3600
    assert incident["details"]["summary"] == "Poste de l'accueil volé."
    one = f"{INCIDENTS}/{incident['id']}"
    query = {
        "account": two_labs.owner(Role.RECEPTION).username,
        "start": start.isoformat(),
        "end": (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat(),
    }
    response = client.post(f"{one}/affected/audit", json=query, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["affected_by_source"] == {"audit": 2}
    listed = client.get(f"{one}/affected", headers=admin).json()["patients"]
    assert sorted(p["patient_id"] for p in listed) == sorted(str(r.id) for r in patients)
    assert client.patch(one, json={"people_approx": 2}, headers=admin).json()["people_approx"] == 2
    cnil = client.get(f"{one}/cnil.pdf", headers=admin)
    assert cnil.headers["content-type"] == "application/pdf" and "72 heures" in pdf_text(cnil.content)
    letters = pdf_text(client.get(f"{one}/letters.pdf", headers=admin).content)
    assert all(r.data.first_names in letters for r in patients)
    notified = client.post(f"{one}/notify", json={}, headers=admin).json()
    assert notified["status"] == "notified" and notified["notified_at"] is not None
    assert client.post(f"{one}/notify", headers=admin).status_code == 409
    bad = client.post(INCIDENTS, json={**body, "nature": ["secrecy"]}, headers=admin)
    assert bad.status_code == 422
    naive = client.post(INCIDENTS, json={**body, "discovered_at": "2026-01-01T10:00:00"}, headers=admin)
    assert naive.status_code == 422
