"""A real FHIR client (fhirpy's synchronous one) against a real server on 127.0.0.1: it reads the
CapabilityStatement, finds the patient by NIR, follows the next links through their Observations,
reads their report, registers a patient and submits their order, and is refused (an
OperationOutcome) without a token."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError

from labvault.identity.validation import INS_OID_NIR
from labvault.security.access import Role
from labvault.web.app import create_app
from tests.web.fhir.support import World
from tests.web.fhir.test_writes import adult, order_bundle, patient_json
from tests.web.test_live_server import free_port


@pytest.fixture(scope="module")
def base(fhir_world: World) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(fhir_world.platform), host="127.0.0.1", port=free_port(), log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}/fhir"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def client(world: World, base: str) -> SyncFHIRClient:
    token = world.headers(Role.BIOLOGIST)["Authorization"]
    return SyncFHIRClient(base, authorization=token)


def test_a_fhir_client_finds_a_patient_by_nir_and_reads_their_observations(
    fhir_world: World, base: str
) -> None:
    fhir = client(fhir_world, base)
    assert fhir.execute("metadata", method="get")["fhirVersion"] == "4.0.1"
    nir = fhir_world.patient.nir
    found = fhir.resources("Patient").search(identifier=f"urn:oid:{INS_OID_NIR}|{nir}").fetch()
    assert [p.id for p in found] == [str(fhir_world.patient_id)]
    patient = Patient.model_validate(found[0].serialize())
    assert patient.birthDate == fhir_world.patient.birth_date
    # _count=1: fetch_all follows the server's next links page by page.
    results = fhir.resources("Observation").search(subject=f"Patient/{patient.id}").limit(1).fetch_all()
    observations = [Observation.model_validate(r.serialize()) for r in results]
    coded = {c.code for o in observations for c in o.code.coding if c.system == "urn:labvault:test-code"}
    assert coded == {"GLU", "K", "HIV", "CRP"}
    report = fhir.resources("DiagnosticReport").search(subject=f"Patient/{patient.id}").first()
    assert report is not None and report["subject"]["reference"] == f"Patient/{patient.id}"


def test_without_a_token_the_client_gets_an_operation_outcome(fhir_world: World, base: str) -> None:
    anonymous = SyncFHIRClient(base)
    with pytest.raises(AuthorizationError) as refused:
        anonymous.resources("Patient").search(identifier="x").fetch()
    assert '"resourceType":"OperationOutcome"' in str(refused.value) and "bearer token" in str(refused.value)


def test_a_fhir_client_registers_a_patient_and_submits_their_order(fhir_world: World, base: str) -> None:
    """Reception's client: ``POST /fhir/Patient`` through fhirpy's resource ``save``, then a
    transaction Bundle (by the new patient's id) through ``execute``; the biologist's client then
    finds the order's ServiceRequests for that patient."""
    data = adult(fhir_world)
    reception = SyncFHIRClient(base, authorization=fhir_world.headers(Role.RECEPTION)["Authorization"])
    created = reception.resource("Patient", **patient_json(data))
    created.save()
    assert created.id is not None
    Patient.model_validate(created.serialize())
    bundle = order_bundle(fhir_world, ["2823-3"], reference=f"Patient/{created.id}")
    answer = Bundle.model_validate(reception.execute("", method="post", data=bundle))
    assert answer.type == "transaction-response"
    requests = client(fhir_world, base).resources("ServiceRequest").search(subject=f"Patient/{created.id}")
    found = [ServiceRequest.model_validate(r.serialize()) for r in requests.fetch_all()]
    assert [c.code for r in found for c in r.code.coding if c.system == "http://loinc.org"] == ["2823-3"]
