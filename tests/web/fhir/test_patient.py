"""FHIR Patient over HTTP: metadata without a token, every error an OperationOutcome, read, and
the searches (NIR, INS, name + birth date, _id) by GET and by POST _search, paged, one audit
event per patient shown, nothing of lab A for lab B."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from labvault.identity.validation import INS_OID_NIR
from labvault.security.access import Role
from labvault.security.monitor import install
from tests.db_inspect import audit_events
from tests.factories import Factory
from tests.web.fhir.support import FHIR, World, entries, outcome_of, parsed
from tests.web.support import bearer, token_for

NIR_SYSTEM = f"urn:oid:{INS_OID_NIR}"


def test_metadata_needs_no_token_and_lists_the_searches(fhir_world: World) -> None:
    response = fhir_world.labs.client.get(f"{FHIR}/metadata")
    statement = parsed(response)
    assert response.status_code == 200 and statement.fhirVersion == "4.0.1"
    resources = {r.type: r for r in statement.rest[0].resource}
    assert {
        "Patient",
        "Observation",
        "DiagnosticReport",
        "Specimen",
        "ServiceRequest",
        "Practitioner",
        "AuditEvent",
    } <= set(resources)
    assert {p.name for p in resources["Patient"].searchParam} >= {"identifier", "family", "birthdate"}


def test_no_token_is_a_401_operation_outcome(fhir_world: World) -> None:
    response = fhir_world.labs.client.get(f"{FHIR}/Patient/{fhir_world.patient_id}")
    assert "bearer token" in outcome_of(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    forged = fhir_world.labs.client.get(f"{FHIR}/Patient", headers={"Authorization": "Bearer lvt_nope"})
    outcome_of(forged, 401)


def test_read(fhir_world: World) -> None:
    patient = parsed(fhir_world.get(f"/Patient/{fhir_world.patient_id}"))
    data = fhir_world.patient
    assert patient.id == str(fhir_world.patient_id)
    assert {(i.system, i.value) for i in patient.identifier} >= {(NIR_SYSTEM, data.nir)}
    assert patient.name[0].family == data.birth_name and patient.birthDate == data.birth_date
    assert patient.gender == {"F": "female", "M": "male"}.get(data.sex, "unknown")


def test_unknown_and_malformed_ids_are_404(fhir_world: World) -> None:
    assert "no patient" in outcome_of(fhir_world.get(f"/Patient/{uuid.uuid4()}"), 404)
    diagnostics = outcome_of(fhir_world.get("/Patient/1850175123456"), 404)
    assert "1850175123456" not in diagnostics  # a value typed as an id is never echoed
    outcome_of(fhir_world.get("/Nothing"), 404)


def test_search_by_nir_get_and_post(fhir_world: World) -> None:
    nir = fhir_world.patient.nir
    assert nir is not None
    for response in (
        fhir_world.get("/Patient", params={"identifier": f"{NIR_SYSTEM}|{nir}"}),
        fhir_world.search("Patient", {"identifier": f"{NIR_SYSTEM}|{nir}"}),
        fhir_world.search("Patient", {"identifier": nir}),
    ):
        assert [p.id for p in entries(response)] == [str(fhir_world.patient_id)]
    posted = parsed(fhir_world.search("Patient", {"identifier": nir}))
    assert nir not in str(posted.link[0].url)  # the self link of a POSTed search names no identifier


def test_search_by_ins(fhir_world: World) -> None:
    data = fhir_world.patient
    assert data.ins and data.ins_oid
    found = entries(fhir_world.search("Patient", {"identifier": f"urn:oid:{data.ins_oid}|{data.ins}"}))
    assert [p.id for p in found] == [str(fhir_world.patient_id)]


def test_search_by_name_and_birthdate(fhir_world: World) -> None:
    data = fhir_world.patient
    form = {"family": data.birth_name.lower(), "birthdate": data.birth_date.isoformat()}
    assert str(fhir_world.patient_id) in [p.id for p in entries(fhir_world.search("Patient", form))]
    only_name = outcome_of(fhir_world.search("Patient", {"family": data.birth_name}), 400)
    assert "name and birth date together" in only_name and data.birth_name not in only_name


def test_bad_searches_are_400_naming_the_parameter(fhir_world: World) -> None:
    cases = {
        "colour": ({"colour": "blue"}, "not a supported search parameter"),
        "_count": ({"identifier": "x", "_count": "-1"}, "_count: must be a whole number"),
        "system": ({"identifier": "urn:oid:9.9|123"}, "system must be"),
        "nir": ({"identifier": f"{NIR_SYSTEM}|12345"}, "nir"),
        "nothing": ({}, "search patients by identifier"),
        "date": ({"family": "X", "birthdate": "1970-13-45"}, "birthdate"),
    }
    for label, (form, expected) in cases.items():
        assert expected in outcome_of(fhir_world.search("Patient", form), 400), label
    body = fhir_world.labs.client.post(
        f"{FHIR}/Patient/_search", json={"identifier": "x"}, headers=fhir_world.headers(Role.BIOLOGIST)
    )
    assert "form-encoded" in outcome_of(body, 400)


def test_paging_by_ids_and_one_audit_event_per_patient_shown(fhir_world: World) -> None:
    bench, platform = fhir_world.bench, fhir_world.platform
    twins = bench.factory.patient_data(nir=None, ins=None, ins_oid=None, ins_status=None)
    ids = {str(platform.patients.register(bench.reception, twins, accept_homonym=True).id) for _ in range(3)}
    lab = fhir_world.labs.lab_a.id
    before = len(audit_events(platform, lab, "patient.search_hit"))
    form = {"family": twins.birth_name, "birthdate": twins.birth_date.isoformat(), "_count": "2"}
    first = parsed(fhir_world.search("Patient", form))
    assert first.total == 3 and len(first.entry) == 2
    hits = audit_events(platform, lab, "patient.search_hit")[before:]
    assert sorted(str(e.patient_id) for e in hits) == sorted(ids), "one event per patient found"
    next_url = next(link.url for link in first.link if link.relation == "next")
    query = parse_qs(urlsplit(next_url).query)
    assert twins.birth_name not in next_url and set(query) == {"_id", "_count"}
    reads_before = len(audit_events(platform, lab, "patient.read"))
    second = parsed(fhir_world.get(f"/Patient?{urlsplit(next_url).query}"))
    assert {e.resource.id for e in first.entry} | {e.resource.id for e in second.entry} == ids
    assert len(audit_events(platform, lab, "patient.read")) - reads_before == 1


def test_another_lab_sees_nothing(fhir_world: World) -> None:
    nir = fhir_world.patient.nir
    assert nir is not None
    assert "no patient" in outcome_of(fhir_world.get(f"/Patient/{fhir_world.patient_id}", side="b"), 404)
    assert entries(fhir_world.search("Patient", {"identifier": nir}, side="b")) == []
    assert entries(fhir_world.get("/Patient", side="b", params={"_id": str(fhir_world.patient_id)})) == []


def test_a_read_budget_refusal_is_a_429_operation_outcome(fhir_world: World) -> None:
    """The read budgets count FHIR reads like any other: over the hard limit, 429 with
    Retry-After, as an OperationOutcome (``throttled``)."""
    platform = fhir_world.platform
    factory = Factory(platform)
    lab = factory.lab()
    reception = factory.ctx(lab)
    ids = [platform.patients.register(reception, factory.patient_data()).id for _ in range(3)]
    headers = bearer(token_for(platform, factory.user(lab, Role.RECEPTION)))
    small = {"read_budget_soft": {"reception": 1}, "read_budget_hard": {"reception": 2}}
    install(platform.db, platform.settings.model_copy(update=small))
    try:
        answers = [fhir_world.labs.client.get(f"{FHIR}/Patient/{i}", headers=headers) for i in ids]
    finally:
        install(platform.db, platform.settings)
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert outcome_of(answers[2], 429) and answers[2].headers["retry-after"]
    assert parsed(answers[2]).issue[0].code == "throttled"
