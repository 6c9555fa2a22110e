"""The matrix's rows for breach response: a lab's incidents, their affected patients and drafts.
Another lab's admin gets 404 on lab A's incident (and its own, empty, list); the operator 403."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labvault.governance.incident_data import IncidentDetails, IncidentInput
from labvault.governance.incident_models import BreachIncident
from labvault.identity.accounts import context_for
from labvault.security.access import Purpose
from labvault.web.app import API_PREFIX
from tests.db_inspect import row_value
from tests.web.isolation.support import (
    ADMIN,
    Attempt,
    Build,
    Caller,
    R,
    Req,
    Route,
    Verify,
    World,
    check_isolation,
    confined,
    lab_side,
    matrix_cases,
)

INCIDENTS = f"{API_PREFIX}/incidents"
ONE = f"{INCIDENTS}/{{incident_id}}"


@dataclass
class Manifest:
    id: uuid.UUID
    patient_ids: list[uuid.UUID]


def incident_of_lab_a(world: World, *, affected: bool = False) -> uuid.UUID:
    """A new incident of lab A (with its patient P affected, through the export seam)."""
    officer = context_for(world.owner(ADMIN), Purpose.ADMINISTRATION)
    details = IncidentDetails(summary="Fichier trouvé en ligne.", dpo_contact="DPO du laboratoire A")
    data = IncidentInput(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), ("confidentiality",), details)
    incident = world.platform.incidents.open(officer, data).id
    if affected:
        manifest = Manifest(uuid.uuid4(), [world.target.id])
        world.platform.incidents.affected_from_export(officer, incident, manifest)
    return incident


def on_incident(suffix: str = "", *, affected: bool = False, json: dict[str, Any] | None = None) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        incident = incident_of_lab_a(world, affected=affected)
        return Req(f"{INCIDENTS}/{incident}{suffix}", json=json, context={"incident": incident})

    return build


def build_open(_world: World, _attempt: Attempt) -> Req:
    body = {
        "discovered_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).isoformat(),
        "nature": ["confidentiality"],
        "details": {"summary": "Poste volé."},
    }
    return Req(INCIDENTS, json=body)


def build_list(world: World, _attempt: Attempt) -> Req:
    return Req(INCIDENTS, context={"incident": str(incident_of_lab_a(world))})


def verify_list(_world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        shown = {incident["id"] for incident in response.json()["incidents"]}
        assert (req.context["incident"] in shown) is (attempt.caller is Caller.OWNER)


def build_audit_query(world: World, attempt: Attempt) -> Req:
    now = dt.datetime.now(dt.UTC)
    body = {
        "account": world.owner(R).username,
        "start": (now - dt.timedelta(days=1)).isoformat(),
        "end": (now + dt.timedelta(minutes=1)).isoformat(),
    }
    return on_incident("/affected/audit", json=body)(world, attempt)


def verify_patched(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    value = row_value(world.platform, BreachIncident, req.context["incident"], "people_approx")
    assert (value == 42) is (response.status_code == 200)


def verify_status(status: str) -> Verify:
    def verify(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
        value = row_value(world.platform, BreachIncident, req.context["incident"], "status")
        assert (value == status) is (response.status_code == 200)

    return verify


def verify_pdf(_world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert response.content.startswith(b"%PDF")


ROUTES: tuple[Route, ...] = (
    Route("POST", INCIDENTS, ADMIN, lab_side(201, 201, 403), build_open),
    Route("GET", INCIDENTS, ADMIN, lab_side(200, 200, 403), build_list, verify_list),
    Route("GET", ONE, ADMIN, confined(200), on_incident()),
    Route("PATCH", ONE, ADMIN, confined(200), on_incident(json={"people_approx": 42}), verify_patched),
    Route("POST", f"{ONE}/affected/audit", ADMIN, confined(200), build_audit_query),
    Route("GET", f"{ONE}/affected", ADMIN, confined(200), on_incident("/affected", affected=True)),
    Route("POST", f"{ONE}/notify", ADMIN, confined(200), on_incident("/notify"), verify_status("notified")),
    Route("POST", f"{ONE}/close", ADMIN, confined(200), on_incident("/close"), verify_status("closed")),
    Route("GET", f"{ONE}/cnil.pdf", ADMIN, confined(200), on_incident("/cnil.pdf"), verify_pdf),
    Route(
        "GET",
        f"{ONE}/letters.pdf",
        ADMIN,
        confined(200),
        on_incident("/letters.pdf", affected=True),
        verify_pdf,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
