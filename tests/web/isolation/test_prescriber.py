"""The prescriber column: Dr D's account reads D's own orders and patients, and nothing else of
lab A (the policy's 403) or of lab B (404)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from labvault.identity.accounts import context_for
from labvault.security.access import Role
from labvault.security.models import AuditEvent
from labvault.web.app import API_PREFIX
from tests.auth_helpers import mark_reauthenticated
from tests.db_inspect import audit_count
from tests.factories import TEST_PASSWORD, Bench
from tests.web.isolation.support import ORDERS, PRESCRIBER, P, World, patient_ids, physician_in, prescribed
from tests.web.support import bearer, token_for

OWN_ONLY = "a prescriber sees only the orders they prescribed"


def prescriber_reads(world: World) -> dict[str, tuple[str, str]]:
    """The prescriber column's reads: (the path on Dr D's order or patient, the same on W, Dr E's
    order of the same patient, or on twin T, who has no order of D's)."""
    flow = world.flow
    own, foreign = flow.order, flow.waiting
    patient, twin = world.target.id, world.twin.id
    return {
        "order": (f"{ORDERS}/{own.id}", f"{ORDERS}/{foreign.id}"),
        "reports": (f"{ORDERS}/{own.id}/reports", f"{ORDERS}/{foreign.id}/reports"),
        "report pdf": (f"{ORDERS}/{own.id}/reports/1.pdf", f"{ORDERS}/{foreign.id}/reports/1.pdf"),
        "versions": (
            f"{API_PREFIX}/items/{flow.order_items['K']}/versions",
            f"{API_PREFIX}/items/{Bench.items(foreign)['K']}/versions",
        ),
        "patient": (f"{P}/{patient}", f"{P}/{twin}"),
        "patient orders": (f"{P}/{patient}/orders", f"{P}/{twin}/orders"),
        "history": (f"{P}/{patient}/history", f"{P}/{twin}/history"),
        "history pdf": (f"{P}/{patient}/history.pdf", f"{P}/{twin}/history.pdf"),
    }


PRESCRIBER_READS = ("order", "reports", "report pdf", "versions", "patient", "patient orders", "history")


@pytest.mark.parametrize("read", [*PRESCRIBER_READS, "history pdf"])
def test_the_prescriber_is_held_to_their_own_orders(world: World, read: str) -> None:
    """Right for D's own order (200), the policy's 403 for another physician's order of the same
    patient or a patient without D's orders, 404 for lab B's prescriber; no refusal shows one of
    lab A's patients, and lab A's chain records only D's own refusal (issue 10, finding 9)."""
    own_path, other_path = prescriber_reads(world)[read]
    mine = bearer(world.tokens[world.owner(PRESCRIBER).id])
    assert world.client.get(own_path, headers=mine).status_code == 200
    audit_before = audit_count(world.platform, world.lab_a.id)
    refused = world.client.get(other_path, headers=mine)
    assert refused.status_code == 403, refused.text[:300]
    assert OWN_ONLY in refused.json()["detail"]
    stranger = bearer(world.tokens[world.other(PRESCRIBER).id])
    for path in (own_path, other_path):
        response = world.client.get(path, headers=stranger)
        assert response.status_code == 404, response.text[:300]
        assert not any(value.lower() in response.text.lower() for value in world.secrets())
    events = AuditEvent.__table__
    with world.platform.db.owner_engine.connect() as conn:
        added = conn.execute(
            select(events).where(events.c.chain == str(world.lab_a.id), events.c.chain_seq > audit_before)
        ).all()
    for event in added:  # D's refusal (route and id, no patient; coalesced if repeated), its probing alert
        assert (event.actor_id, event.patient_id) == (world.owner(PRESCRIBER).id, None)
        assert event.action in ("access.refused", "alert.raise"), event.action


def test_the_prescribers_searches_find_only_their_patients(world: World) -> None:
    mine = bearer(world.tokens[world.owner(PRESCRIBER).id])
    for person, expected in ((world.target, [str(world.target.id)]), (world.twin, [])):
        body = {"name": person.data.birth_name, "birth_date": person.data.birth_date.isoformat()}
        response = world.client.post(f"{P}/search/name", json=body, headers=mine)
        assert response.status_code == 200 and patient_ids(response) == expected
        if person.data.nir:
            response = world.client.post(f"{P}/search/nir", json={"nir": person.data.nir}, headers=mine)
            assert patient_ids(response) == expected
    twin_name = world.twin.data.birth_name.lower()
    lab_b = bearer(world.tokens[world.other(PRESCRIBER).id])
    body = {"name": world.target.data.birth_name, "birth_date": world.target.data.birth_date.isoformat()}
    response = world.client.post(f"{P}/search/name", json=body, headers=lab_b)
    assert patient_ids(response) == [] and twin_name not in response.text.lower()


def test_an_admin_creates_a_prescriber_account_through_the_api(world: World) -> None:
    """``POST /labs/{A}/users`` with ``physician_id``: created for a physician of lab A (the
    account then reads that physician's orders), 404 for one of lab B, 409 for a second account."""
    admin = world.owner(Role.LAB_ADMIN)
    mark_reauthenticated(world.platform, world.tokens[admin.id])
    headers = bearer(world.tokens[admin.id])
    physician = physician_in(world.platform, context_for(world.owner(Role.RECEPTION)))
    elsewhere = physician_in(world.platform, context_for(world.other(Role.RECEPTION)))

    def create(physician_id: uuid.UUID | None, role: str = "prescriber") -> httpx.Response:
        body: dict[str, Any] = {
            "username": f"dr{uuid.uuid4().hex[:12]}",
            "password": TEST_PASSWORD,
            "role": role,
        }
        if physician_id is not None:
            body["physician_id"] = str(physician_id)
        return world.client.post(f"{API_PREFIX}/labs/{world.lab_a.id}/users", json=body, headers=headers)

    created = create(physician)
    assert created.status_code == 201, created.text[:300]
    assert (created.json()["role"], created.json()["physician_id"]) == ("prescriber", str(physician))
    assert create(physician).status_code == 409
    assert create(elsewhere).status_code == 404
    assert create(None).status_code == 422
    assert create(physician, role="technician").status_code == 422
    prescriber = world.platform.accounts.by_username(created.json()["username"])
    token = token_for(world.platform, prescriber)
    order = prescribed(world.flow.bench, world.target.id, physician, "K")
    assert world.client.get(f"{ORDERS}/{order.id}", headers=bearer(token)).status_code == 200
    assert world.client.get(f"{ORDERS}/{world.flow.order.id}", headers=bearer(token)).status_code == 403
