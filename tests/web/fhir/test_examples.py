"""The official FHIR R4 examples of ../shared/testdata/fhir-r4 (Patient, Observation, Specimen,
ServiceRequest, DiagnosticReport, some inside Bundles) parse with the R4B models labvault uses;
and what labvault emits for the same kinds of data round-trips (parse -> JSON -> parse, equal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from labvault.security.access import Role
from tests.web.fhir.support import World, entries, parsed

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "fhir-r4"
KINDS = ("Patient", "Observation", "Specimen", "ServiceRequest", "DiagnosticReport")


def example_files() -> list[Path]:
    files = sorted(EXAMPLES.glob("*.json"))
    assert files, f"FHIR R4 examples not found in {EXAMPLES} (expected ../shared/testdata/fhir-r4/)"
    return files


def resources_in(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document["resourceType"] == "Bundle":
        return [entry["resource"] for entry in document.get("entry", []) if "resource" in entry]
    return [document]


def round_trips(resource: Any) -> None:
    model = type(resource)
    again = model.model_validate_json(resource.model_dump_json())
    assert again == resource and again.model_dump(mode="json") == resource.model_dump(mode="json")


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_the_examples_parse_with_r4b(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    whole = get_fhir_model_class(document["resourceType"]).model_validate(document)
    round_trips(whole)
    kinds = {r["resourceType"] for r in resources_in(document)}
    assert kinds & set(KINDS), f"{path.name} holds none of {KINDS}"


def test_every_kind_has_an_example() -> None:
    kinds = {
        r["resourceType"]
        for path in example_files()
        for r in resources_in(json.loads(path.read_text("utf-8")))
    }
    assert set(KINDS) <= kinds


def test_what_labvault_emits_round_trips(fhir_world: World) -> None:
    subject = {"subject": f"Patient/{fhir_world.patient_id}"}
    emitted = [parsed(fhir_world.get(f"/Patient/{fhir_world.patient_id}"))]
    for kind in KINDS[1:]:
        found = entries(fhir_world.get(f"/{kind}", Role.BIOLOGIST, params=subject))
        assert found, kind
        emitted += found
        emitted.append(parsed(fhir_world.get(f"/{kind}/{found[0].id}")))
    emitted.append(parsed(fhir_world.get(f"/Practitioner/{fhir_world.physician_id}")))
    emitted += entries(fhir_world.get("/AuditEvent", params={"patient": str(fhir_world.patient_id)}))
    for resource in emitted:
        round_trips(resource)
