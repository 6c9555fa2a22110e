"""Issue 10, finding 8, replayed over HTTP: on an order holding an HIV test, the technician,
reception and support (a platform operator under a lab admin's grant) read no clinical
information nor drugs ("suivi PrEP", "Truvada"); the biologist and the order's prescriber do. And a
restricted item the caller cannot see is refused with the very status and body of an item that
does not exist: ``POST /results``, technical validation, the critical call and ``/versions``."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from labvault.identity.accounts import Account, context_for
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_rpps
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from labvault.security.models import AuditEvent
from labvault.store.base import utcnow
from labvault.web.app import API_PREFIX, create_app
from labvault.workflow.order_data import OrderRequest
from labvault.workflow.result_entry import ResultEntry
from tests.factories import TEST_PASSWORD, Factory
from tests.web.support import TestClient, bearer, token_for

CLINICAL, DRUG = "suivi PrEP", "Truvada"
STAFF = (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST, Role.LAB_ADMIN)


@dataclass
class Scene:
    client: TestClient
    headers: dict[str, dict[str, str]]  # who -> request headers
    order_id: uuid.UUID
    patient_id: uuid.UUID
    hiv: uuid.UUID

    def get(self, who: str, path: str) -> httpx.Response:
        response: httpx.Response = self.client.get(f"{API_PREFIX}{path}", headers=self.headers[who])
        return response

    def post(self, who: str, path: str, body: Any) -> httpx.Response:
        response: httpx.Response = self.client.post(
            f"{API_PREFIX}{path}", json=body, headers=self.headers[who]
        )
        return response


def prescriber(platform: Platform, admin: Account, reception: Account) -> Account:
    """Dr Prévost's prescriber account (she prescribes the probe's order)."""
    rpps = generate_rpps(random.Random(uuid.uuid4().int))
    physician = platform.physicians.register(
        context_for(reception), PhysicianData(rpps=rpps, family_name="Prévost", given_names="Paule")
    )
    return platform.accounts.create_user(
        context_for(admin, Purpose.ADMINISTRATION),
        f"dr{uuid.uuid4().hex[:12]}",
        TEST_PASSWORD,
        Role.PRESCRIBER,
        admin.lab_id,
        physician_id=physician.id,
    )


@pytest.fixture(scope="module")
def scene(platform: Platform) -> Iterator[Scene]:
    factory = Factory(platform)
    lab = factory.lab("Laboratoire PrEP")
    staff = {role: factory.user(lab, role) for role in STAFF}
    reception, biologist = context_for(staff[Role.RECEPTION]), context_for(staff[Role.BIOLOGIST])
    dr = prescriber(platform, staff[Role.LAB_ADMIN], staff[Role.RECEPTION])
    patient = platform.patients.register(reception, factory.patient_data()).id
    order = platform.orders.create(
        reception,
        OrderRequest(
            patient_id=patient,
            tests=("HIV", "K"),
            clinical_info=CLINICAL,
            drugs=(DRUG,),
            prescriber_id=dr.physician_id,
        ),
    )
    for specimen in order.specimens:
        platform.specimens.receive(reception, specimen.barcode)
    hiv = next(i.id for i in order.items if i.test_code == "HIV")
    platform.results.enter(biologist, [ResultEntry(hiv, "negative")])

    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    admin = dataclasses.replace(staff[Role.LAB_ADMIN], reauthenticated_at=utcnow())
    platform.support.grant(admin, context_for(admin), operator.username, 2, "Ticket 4512: import CSV")
    headers = {role.value: bearer(token_for(platform, account)) for role, account in staff.items()}
    headers["prescriber"] = bearer(token_for(platform, dr))
    headers["support"] = {**bearer(token_for(platform, operator)), "X-Support-Lab": str(lab.id)}
    with TestClient(create_app(platform)) as client:
        yield Scene(client, headers, order.id, patient, hiv)


def order_views(scene: Scene, who: str) -> list[dict[str, Any]]:
    """The order as ``who`` reads it alone and in the patient's list of orders."""
    one = scene.get(who, f"/orders/{scene.order_id}")
    listed = scene.get(who, f"/patients/{scene.patient_id}/orders")
    assert one.status_code == 200 and listed.status_code == 200, (one.text, listed.text)
    return [one.json(), *listed.json()["results"]]


@pytest.mark.parametrize("who", ["technician", "reception", "support"])
def test_no_clinical_context_for_those_who_do_not_see_the_hiv_test(scene: Scene, who: str) -> None:
    for body in order_views(scene, who):
        assert [i["test_code"] for i in body["items"]] == ["K"] and body["hidden_items"] == 1
        assert (body["clinical_info"], body["drugs"], body["clinical_context_withheld"]) == (None, [], True)
        assert "PrEP" not in str(body) and DRUG not in str(body)


@pytest.mark.parametrize("who", ["biologist", "prescriber"])
def test_the_biologist_and_the_orders_prescriber_see_it(scene: Scene, who: str) -> None:
    for body in order_views(scene, who):
        assert "HIV" in [i["test_code"] for i in body["items"]] and body["hidden_items"] == 0
        assert (body["clinical_info"], body["drugs"], body["clinical_context_withheld"]) == (
            CLINICAL,
            [DRUG],
            False,
        )


def answer(response: httpx.Response, item: uuid.UUID) -> tuple[int, str]:
    """Status and body, the id the caller sent replaced (an echo of its own request)."""
    return response.status_code, response.text.replace(str(item), "ITEM")


def test_a_restricted_item_is_refused_as_an_absent_one(scene: Scene) -> None:
    nothing = uuid.uuid4()
    calls = {
        "POST /results": lambda i: scene.post(
            "technician", "/results", {"entries": [{"item_id": str(i), "value": "positive"}]}
        ),
        "validate": lambda i: scene.post("technician", "/results/validate/technical", {"item_ids": [str(i)]}),
        "critical call": lambda i: scene.post(
            "technician", f"/items/{i}/critical-call", {"called_party": "Dr Garde, SAU", "method": "phone"}
        ),
        "versions": lambda i: scene.get("technician", f"/items/{i}/versions"),
    }
    for name, call in calls.items():
        restricted, absent = answer(call(scene.hiv), scene.hiv), answer(call(nothing), nothing)
        assert restricted == absent, name
        assert restricted[0] in (404, 422), restricted
        assert "HIV" not in restricted[1] and "restricted" not in restricted[1], name
    assert scene.get("biologist", f"/items/{scene.hiv}/versions").status_code == 200


def test_refusals_on_ids_named_in_a_body_are_audited_alike(scene: Scene, platform: Platform) -> None:
    """Finding 9 through bodies: the 422 for a restricted item and for an absent one are both an
    ``access.refused`` event naming the item, on the technician's chain (probing is seen)."""
    events = AuditEvent.__table__
    technician = platform.accounts.resolve_token(scene.headers["technician"]["Authorization"].split()[1])
    nothing = uuid.uuid4()
    for item in (scene.hiv, nothing):
        body = {"item_ids": [str(item)]}
        assert scene.post("technician", "/results/validate/technical", body).status_code == 422
    with platform.db.owner_engine.connect() as conn:
        recorded = conn.execute(
            select(events.c.object_type, events.c.object_id, events.c.detail).where(
                events.c.action == "access.refused", events.c.actor_id == technician.id
            )
        ).all()
    named = {(kind, object_id) for kind, object_id, detail in recorded if detail["status"] == 422}
    assert {("item", str(scene.hiv)), ("item", str(nothing))} <= named
