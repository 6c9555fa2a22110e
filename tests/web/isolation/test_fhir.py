"""The matrix's rows for FHIR (/fhir): reads and searches of lab A's patient P and its orders,
report, tubes, prescriber and access log; registering a patient and submitting an order. Another
lab gets a 404 for P's objects, or an empty searchset; the operator 403; no one 401 (the
CapabilityStatement excepted: public, as every FHIR server's)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from labvault.identity.accounts import context_for
from labvault.identity.validation import INS_OID_NIR
from labvault.security.access import Role
from labvault.workflow.models import Order
from tests.db_inspect import row_count
from tests.web.isolation.support import (
    Attempt,
    Build,
    Caller,
    R,
    Req,
    Route,
    World,
    check_isolation,
    confined,
    everyone,
    fresh_patient,
    lab_side,
    matrix_cases,
)

F = "/fhir"
B = Role.BIOLOGIST
NIR = f"urn:oid:{INS_OID_NIR}"
SEARCHES = ("Observation", "ServiceRequest", "Specimen", "DiagnosticReport")


def fixed(path: str) -> Build:
    return lambda _world, _attempt: Req(path)


def of_patient(resource_type: str, method: str) -> Build:
    """A search of P's ``resource_type``; POSTed ones carry their parameters in the query too."""

    def build(world: World, _attempt: Attempt) -> Req:
        key = "patient" if resource_type == "AuditEvent" else "subject"
        value = str(world.target.id) if key == "patient" else f"Patient/{world.target.id}"
        suffix = "/_search" if method == "POST" else ""
        return Req(f"{F}/{resource_type}{suffix}?{urlencode({key: value})}")

    return build


def read(resource_type: str) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        order = world.flow.order
        ids = {
            "Patient": world.target.id,
            "Observation": world.flow.order_items["GLU"],
            "ServiceRequest": world.flow.order_items["GLU"],
            "Specimen": order.specimens[0].id,
            "Practitioner": order.prescriber_id,
            "DiagnosticReport": world.platform.reports.list(world.flow.bench.biologist, order.id)[0].id,
        }
        return Req(f"{F}/{resource_type}/{ids[resource_type]}")

    return build


def search_patient(method: str) -> Build:
    """P's NIR for lab A; its twin's (their own input, echoed in the self link) for the others."""

    def build(world: World, attempt: Attempt) -> Req:
        record = world.target if attempt.caller is Caller.OWNER else world.twin
        query = urlencode(
            {"identifier": f"{NIR}|{record.data.nir}"} if record.data.nir else {"_id": str(record.id)}
        )
        return Req(f"{F}/Patient{'/_search' if method == 'POST' else ''}?{query}")

    return build


def verify_search_patient(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        ids = [e["resource"]["id"] for e in response.json().get("entry", [])]
        assert ids == ([str(world.target.id)] if attempt.caller is Caller.OWNER else [])


def search_practitioner(method: str) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        rpps = world.platform.physicians.get(
            context_for(world.owner(R)), world.flow.order.prescriber_id or world.target.id
        ).data.rpps
        return Req(f"{F}/Practitioner{'/_search' if method == 'POST' else ''}?identifier={rpps}")

    return build


def verify_practitioner_search(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        found = [e["resource"]["id"] for e in response.json().get("entry", [])]
        assert found == ([str(world.flow.order.prescriber_id)] if attempt.caller is Caller.OWNER else [])


def build_create_patient(world: World, _attempt: Attempt) -> Req:
    """A new patient for every caller (the JSON API's row registers P's twin in lab B already)."""
    data = fresh_patient(world)
    body = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": data.birth_name, "given": data.first_names.split()}],
        "gender": {"M": "male", "F": "female"}.get(data.sex, "unknown"),
        "birthDate": data.birth_date.isoformat(),
    }
    if data.nir:
        body["identifier"] = [{"system": NIR, "value": data.nir}]
    return Req(f"{F}/Patient", body)


def build_order(world: World, _attempt: Attempt) -> Req:
    request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{world.target.id}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
    }
    entry = {"resource": request, "request": {"method": "POST", "url": "ServiceRequest"}}
    count = row_count(world.platform, Order, patient_id=world.target.id)
    return Req(
        F, {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}, context={"orders": count}
    )


def verify_order(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    created = response.status_code == 200
    assert row_count(world.platform, Order, patient_id=world.target.id) == req.context["orders"] + int(
        created
    )
    if created:
        assert response.json()["type"] == "transaction-response"


ROUTES = (
    Route("GET", f"{F}/metadata", None, everyone(200), fixed(f"{F}/metadata")),
    Route("GET", f"{F}/Patient/{{patient_id}}", R, confined(200), read("Patient")),
    Route(
        "GET",
        f"{F}/Patient",
        R,
        lab_side(200, 200, 403),
        search_patient("GET"),
        verify_search_patient,
        echoes_input=True,
    ),
    Route(
        "POST",
        f"{F}/Patient/_search",
        R,
        lab_side(200, 200, 403),
        search_patient("POST"),
        verify_search_patient,
        echoes_input=True,
    ),
    Route("POST", f"{F}/Patient", R, lab_side(201, 201, 403), build_create_patient),
    Route("POST", F, R, confined(200), build_order, verify_order),
    Route("GET", f"{F}/Practitioner/{{practitioner_id}}", R, confined(200), read("Practitioner")),
    Route(
        "GET",
        f"{F}/Practitioner",
        R,
        lab_side(200, 200, 403),
        search_practitioner("GET"),
        verify_practitioner_search,
    ),
    Route(
        "POST",
        f"{F}/Practitioner/_search",
        R,
        lab_side(200, 200, 403),
        search_practitioner("POST"),
        verify_practitioner_search,
    ),
    Route("GET", f"{F}/Observation/{{observation_id}}", B, confined(200), read("Observation")),
    Route("GET", f"{F}/ServiceRequest/{{request_id}}", B, confined(200), read("ServiceRequest")),
    Route("GET", f"{F}/Specimen/{{specimen_id}}", B, confined(200), read("Specimen")),
    Route("GET", f"{F}/DiagnosticReport/{{report_id}}", B, confined(200), read("DiagnosticReport")),
    *(
        Route("GET", f"{F}/{kind}", B, confined(200), of_patient(kind, "GET"))
        for kind in (*SEARCHES, "AuditEvent")
    ),
    *(
        Route("POST", f"{F}/{kind}/_search", B, confined(200), of_patient(kind, "POST"))
        for kind in (*SEARCHES, "AuditEvent")
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
