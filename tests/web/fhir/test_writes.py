"""FHIR writes: ``POST /fhir/Patient`` registers a patient (201 and its Location; a duplicate is a
409, an invalid NIR a 422, a body that is no Patient a 400, all OperationOutcomes), and a
transaction Bundle submits an order: the patient found by NIR, one ServiceRequest per LOINC code,
the prescriber by RPPS."""

from __future__ import annotations

from typing import Any

from labvault.identity.patient_data import PatientData
from labvault.identity.validation import INS_OID_NIR
from labvault.security.access import Role
from tests.web.fhir.support import FHIR, World, entries, outcome_of, parsed

NIR = f"urn:oid:{INS_OID_NIR}"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"


def patient_json(data: PatientData) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": data.birth_name, "given": data.first_names.split()}],
        "gender": {"M": "male", "F": "female"}.get(data.sex, "unknown"),
        "birthDate": data.birth_date.isoformat(),
    }
    if data.nir:
        body["identifier"] = [{"system": NIR, "value": data.nir}]
    return body


def post(world: World, path: str, body: Any, role: Role = Role.RECEPTION) -> Any:
    headers = {**world.headers(role), "Content-Type": "application/fhir+json"}
    return world.labs.client.post(f"{FHIR}{path}", json=body, headers=headers)


def adult(world: World) -> PatientData:
    data = world.bench.factory.patient_data()
    while data.nir is None:
        data = world.bench.factory.patient_data()
    return data


def test_create_a_patient(fhir_world: World) -> None:
    data = adult(fhir_world)
    response = post(fhir_world, "/Patient", patient_json(data))
    assert response.status_code == 201, response.text
    created = parsed(response)
    assert response.headers["location"].endswith(f"/fhir/Patient/{created.id}")
    assert created.name[0].family == data.birth_name
    found = entries(fhir_world.search("Patient", {"identifier": f"{NIR}|{data.nir}"}))
    assert [p.id for p in found] == [created.id]
    assert "duplicate" in outcome_of(post(fhir_world, "/Patient", patient_json(data)), 409)


def test_refused_patients(fhir_world: World) -> None:
    data = adult(fhir_world)
    bad_nir = {**patient_json(data), "identifier": [{"system": NIR, "value": "1234567890123 00"}]}
    assert "nir" in outcome_of(post(fhir_world, "/Patient", bad_nir), 422)
    assert "is not JSON" in outcome_of(post(fhir_world, "/Patient", None), 400)
    assert "must be Patient" in outcome_of(post(fhir_world, "/Patient", {"resourceType": "Observation"}), 400)
    nameless = {**patient_json(data), "name": []}
    assert "Patient.name" in outcome_of(post(fhir_world, "/Patient", nameless), 400)
    outcome_of(post(fhir_world, "/Patient", patient_json(data), Role.TECHNICIAN), 403)
    outcome_of(fhir_world.labs.client.post(f"{FHIR}/Patient", json=patient_json(data)), 401)


def order_bundle(world: World, codes: list[str], **subject: Any) -> dict[str, Any]:
    nir = world.patient.nir
    requests = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}",
            "resource": {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "priority": "stat",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": subject or {"reference": "urn:uuid:patient"},
                "requester": {"identifier": {"system": RPPS, "value": world.rpps}},
                "authoredOn": "2026-12-01",
            },
            "request": {"method": "POST", "url": "ServiceRequest"},
        }
        for i, code in enumerate(codes)
    ]
    patient = {
        "fullUrl": "urn:uuid:patient",
        "resource": {"resourceType": "Patient", "identifier": [{"system": NIR, "value": nir}]},
        "request": {"method": "GET", "url": f"Patient?identifier={NIR}|{nir}"},
    }
    return {"resourceType": "Bundle", "type": "transaction", "entry": [patient, *requests]}


def test_a_transaction_submits_an_order(fhir_world: World) -> None:
    response = post(fhir_world, "", order_bundle(fhir_world, ["14749-6", "2823-3"]))
    assert response.status_code == 200, response.text
    answer = parsed(response)
    assert answer.type == "transaction-response" and len(answer.entry) == 3
    assert answer.entry[0].response.location == f"Patient/{fhir_world.patient_id}"
    created = [parsed(fhir_world.get(f"/{e.response.location}")) for e in answer.entry[1:]]
    assert {c.code for r in created for c in r.code.coding if c.system == "http://loinc.org"} == {
        "14749-6",
        "2823-3",
    }
    assert all(
        r.priority == "stat" and r.subject.reference == f"Patient/{fhir_world.patient_id}" for r in created
    )
    assert all(r.requester.reference == f"Practitioner/{fhir_world.physician_id}" for r in created)
    by_id = order_bundle(fhir_world, ["1988-5"], reference=f"Patient/{fhir_world.patient_id}")
    assert post(fhir_world, "", by_id).status_code == 200


def test_refused_transactions(fhir_world: World) -> None:
    unknown = order_bundle(fhir_world, ["0000-0"])
    assert "no LOINC or lab code" in outcome_of(post(fhir_world, "", unknown), 422)
    nobody = order_bundle(fhir_world, ["14749-6"], identifier={"system": NIR, "value": adult(fhir_world).nir})
    assert "no patient with this identifier" in outcome_of(post(fhir_world, "", nobody), 422)
    batch = {**order_bundle(fhir_world, ["14749-6"]), "type": "batch"}
    assert "must be transaction" in outcome_of(post(fhir_world, "", batch), 400)
    empty = {"resourceType": "Bundle", "type": "transaction"}
    assert "at least one ServiceRequest" in outcome_of(post(fhir_world, "", empty), 400)
    outcome_of(post(fhir_world, "", order_bundle(fhir_world, ["14749-6"]), Role.TECHNICIAN), 403)
    assert "no patient with this identifier" in outcome_of(
        fhir_world.labs.client.post(
            f"{FHIR}",
            json=order_bundle(fhir_world, ["14749-6"]),
            headers=fhir_world.headers(Role.RECEPTION, "b"),
        ),
        422,
    )


def test_the_documented_transaction(fhir_world: World) -> None:
    """docs/INTEROP.md's example: the patient by a logical NIR identifier, the prescriber named
    on one request only (the order's prescriber all the same)."""
    subject = {"identifier": {"system": NIR, "value": fhir_world.patient.nir}}
    bundle = order_bundle(fhir_world, ["14749-6", "2823-3"], **subject)
    bundle["entry"] = bundle["entry"][1:]  # no Patient entry
    del bundle["entry"][1]["resource"]["requester"]
    answer = parsed(post(fhir_world, "", bundle))
    created = [parsed(fhir_world.get(f"/{e.response.location}")) for e in answer.entry]
    assert all(r.requester.reference == f"Practitioner/{fhir_world.physician_id}" for r in created)
    assert all(r.subject.reference == f"Patient/{fhir_world.patient_id}" for r in created)
