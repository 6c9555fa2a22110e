"""FHIR Observation, ServiceRequest, Specimen, DiagnosticReport, Practitioner and AuditEvent over
HTTP: what the patient's orders hold, restricted results (HIV) hidden from who may not see them
with the very answer of an unknown id, searches filtered and paged, another lab's token refused."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from urllib.parse import urlsplit

import pytest

from labvault.security.access import Role
from tests.db_inspect import audit_events
from tests.web.fhir.support import World, entries, outcome_of, parsed

LOINC = "http://loinc.org"


def codes(resources: list[object]) -> set[str]:
    return {c.code for r in resources for c in r.code.coding if c.system == "urn:labvault:test-code"}  # type: ignore[attr-defined]


def subject(world: World) -> dict[str, str]:
    return {"subject": f"Patient/{world.patient_id}"}


def test_observations_of_the_patient(fhir_world: World) -> None:
    found = entries(fhir_world.get("/Observation", params=subject(fhir_world)))
    assert codes(found) == {"GLU", "K", "HIV", "CRP"}
    glucose = next(o for o in found if "GLU" in codes([o]))
    assert glucose.status == "final" and float(glucose.valueQuantity.value) == 5.4
    assert glucose.subject.reference == f"Patient/{fhir_world.patient_id}"
    assert any(c.system == LOINC for c in glucose.code.coding)
    assert glucose.specimen.reference.startswith("Specimen/") and glucose.issued is not None
    assert glucose.referenceRange and glucose.interpretation[0].coding[0].code in ("N", "L", "H")
    hiv = next(o for o in found if "HIV" in codes([o]))
    assert hiv.valueString == "negative"
    read = parsed(fhir_world.get(f"/Observation/{glucose.id}"))
    assert read.model_dump() == glucose.model_dump()


def test_observation_filters_and_paging(fhir_world: World) -> None:
    loinc = next(
        c.code
        for c in parsed(fhir_world.get(f"/Observation/{item(fhir_world, 'GLU')}")).code.coding
        if c.system == LOINC
    )
    by = {
        "loinc": ({"code": f"{LOINC}|{loinc}"}, {"GLU"}),
        "lab code": ({"code": "urn:labvault:test-code|K"}, {"K"}),
        "bare code": ({"code": "K"}, {"K"}),
        "today": ({"date": f"ge{dt.date.today() - dt.timedelta(days=1)}"}, {"GLU", "K", "HIV", "CRP"}),
        "long ago": ({"date": "lt2000"}, set()),
        "status": ({"status": "preliminary"}, set()),
    }
    for label, (params, expected) in by.items():
        assert (
            codes(entries(fhir_world.search("Observation", {**subject(fhir_world), **params}))) == expected
        ), label
    first = parsed(fhir_world.get("/Observation", params={**subject(fhir_world), "_count": "3"}))
    assert first.total == 4 and len(first.entry) == 3
    next_url = next(link.url for link in first.link if link.relation == "next")
    rest = parsed(fhir_world.get(f"/Observation?{urlsplit(next_url).query}"))
    assert len(rest.entry) == 1 and not [link for link in rest.link if link.relation == "next"]


def item(world: World, code: str) -> uuid.UUID:
    order = world.hiv if code in ("HIV", "CRP") else world.plain
    return next(i.id for i in order.items if i.test_code == code)


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.RECEPTION])
def test_the_hiv_result_is_hidden_as_if_absent(fhir_world: World, role: Role) -> None:
    found = entries(fhir_world.get("/Observation", role, params=subject(fhir_world)))
    assert "HIV" not in codes(found)
    assert "HIV" not in codes(entries(fhir_world.get("/ServiceRequest", role, params=subject(fhir_world))))
    unknown = outcome_of(fhir_world.get(f"/Observation/{uuid.uuid4()}", role), 404)
    assert outcome_of(fhir_world.get(f"/Observation/{item(fhir_world, 'HIV')}", role), 404) == unknown
    unknown = outcome_of(fhir_world.get(f"/ServiceRequest/{uuid.uuid4()}", role), 404)
    assert outcome_of(fhir_world.get(f"/ServiceRequest/{item(fhir_world, 'HIV')}", role), 404) == unknown
    if role is Role.TECHNICIAN:  # the bench reads results, never reports
        outcome_of(fhir_world.get("/DiagnosticReport", role, params=subject(fhir_world)), 403)
        return
    reports = entries(fhir_world.get("/DiagnosticReport", role, params=subject(fhir_world)))
    assert len(reports) == 1
    hiv_ref = f"Observation/{item(fhir_world, 'HIV')}"
    every = entries(fhir_world.get("/DiagnosticReport", params=subject(fhir_world)))
    hiv_report = next(r for r in every if hiv_ref in {ref.reference for ref in r.result})
    assert hiv_report.id != reports[0].id  # the HIV order's is the one hidden
    unknown = outcome_of(fhir_world.get(f"/DiagnosticReport/{uuid.uuid4()}", role), 404)
    assert outcome_of(fhir_world.get(f"/DiagnosticReport/{hiv_report.id}", role), 404) == unknown


def test_technician_sees_the_plain_results(fhir_world: World) -> None:
    found = entries(fhir_world.get("/Observation", Role.TECHNICIAN, params=subject(fhir_world)))
    assert codes(found) == {"GLU", "K", "CRP"}


def test_reports_with_their_pdf_on_read(fhir_world: World) -> None:
    listed = entries(fhir_world.get("/DiagnosticReport", params=subject(fhir_world)))
    assert len(listed) == 2 and all(r.presentedForm is None for r in listed)
    plain = next(
        r
        for r in listed
        if {ref.reference for ref in r.result} == {f"Observation/{item(fhir_world, c)}" for c in ("GLU", "K")}
    )
    assert plain.status == "final" and plain.subject.reference == f"Patient/{fhir_world.patient_id}"
    response = fhir_world.get(f"/DiagnosticReport/{plain.id}")
    form = parsed(response).presentedForm[0]
    assert form.contentType == "application/pdf" and form.data.startswith(b"%PDF")  # the model decodes it
    assert base64.b64decode(response.json()["presentedForm"][0]["data"]).startswith(b"%PDF")
    assert (
        parsed(
            fhir_world.get(f"/DiagnosticReport/{plain.id}", params={"_include-pdf": "false"})
        ).presentedForm
        is None
    )
    with_pdf = entries(fhir_world.search("DiagnosticReport", {**subject(fhir_world), "_include-pdf": "true"}))
    assert all(r.presentedForm for r in with_pdf)


def test_specimens_and_service_requests(fhir_world: World) -> None:
    tubes = entries(fhir_world.get("/Specimen", params={"patient": str(fhir_world.patient_id)}))
    assert {t.id for t in tubes} == {
        str(s.id) for o in (fhir_world.plain, fhir_world.hiv) for s in o.specimens
    }
    tube = parsed(fhir_world.get(f"/Specimen/{tubes[0].id}"))
    assert tube.status == "available" and tube.receivedTime is not None and tube.accessionIdentifier.value
    requests = entries(fhir_world.get("/ServiceRequest", params=subject(fhir_world)))
    assert codes(requests) == {"GLU", "K", "HIV", "CRP"}
    glucose = parsed(fhir_world.get(f"/ServiceRequest/{item(fhir_world, 'GLU')}"))
    assert glucose.status == "completed" and glucose.intent == "order"
    assert glucose.requester.reference == f"Practitioner/{fhir_world.physician_id}"
    assert glucose.requisition.value == fhir_world.plain.accession


def test_practitioner_read_and_search_by_rpps(fhir_world: World) -> None:
    rpps_system = "urn:oid:1.2.250.1.71.4.2.1"
    read = parsed(fhir_world.get(f"/Practitioner/{fhir_world.physician_id}"))
    assert (read.identifier[0].system, read.identifier[0].value) == (rpps_system, fhir_world.rpps)
    found = entries(fhir_world.search("Practitioner", {"identifier": f"{rpps_system}|{fhir_world.rpps}"}))
    assert [p.id for p in found] == [str(fhir_world.physician_id)]
    assert entries(fhir_world.search("Practitioner", {"identifier": fhir_world.rpps}, side="b")) == []


def test_audit_events_are_the_patients_access_log(fhir_world: World) -> None:
    fhir_world.get(f"/Patient/{fhir_world.patient_id}")
    events = entries(
        fhir_world.get("/AuditEvent", params={"patient": str(fhir_world.patient_id), "_count": "5"})
    )
    assert len(events) == 5
    assert all(e.entity[0].what.reference == f"Patient/{fhir_world.patient_id}" for e in events)
    actions = {e.subtype[0].code for e in events}
    assert "patient.read" in actions or "patient.access_log.read" in actions
    outcome_of(
        fhir_world.get("/AuditEvent", Role.TECHNICIAN, params={"patient": str(fhir_world.patient_id)}), 403
    )


def test_searches_name_their_patient(fhir_world: World) -> None:
    for resource_type in ("Observation", "Specimen", "ServiceRequest", "DiagnosticReport", "AuditEvent"):
        assert "name their patient" in outcome_of(fhir_world.get(f"/{resource_type}"), 400)
    assert "must reference a Patient" in outcome_of(
        fhir_world.get("/Observation", params={"subject": "Group/1"}), 400
    )


def test_another_lab_gets_404(fhir_world: World) -> None:
    for resource_type in ("Observation", "Specimen", "ServiceRequest", "DiagnosticReport"):
        response = fhir_world.get(f"/{resource_type}", side="b", params=subject(fhir_world))
        assert "no patient" in outcome_of(response, 404), resource_type
    assert outcome_of(fhir_world.get(f"/Observation/{item(fhir_world, 'GLU')}", side="b"), 404)
    assert outcome_of(fhir_world.get(f"/Practitioner/{fhir_world.physician_id}", side="b"), 404)


def test_a_search_is_audited_against_its_patient(fhir_world: World) -> None:
    """An Observation search reads the patient's orders through the order service: one event
    naming the patient, in the lab's chain (the patient's access log lists it)."""
    lab = fhir_world.labs.lab_a.id

    def listed() -> list[object]:
        return [
            e
            for e in audit_events(fhir_world.platform, lab, "order.list")
            if e.patient_id == fhir_world.patient_id
        ]

    before = len(listed())
    entries(fhir_world.get("/Observation", params=subject(fhir_world)))
    assert len(listed()) == before + 1
