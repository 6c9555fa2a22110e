"""A prescriber as an R4B Practitioner, identified by their RPPS number."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.practitioner import Practitioner

from labvault.identity.physician_service import PhysicianRecord
from labvault.interop.fhir.systems import RPPS


def practitioner_json(record: PhysicianRecord) -> dict[str, Any]:
    """The resource as JSON, for searches (the R4B model's validation costs about a
    millisecond a resource; the tests parse every answer with it)."""
    data = record.data
    telecom = [{"system": "phone", "value": data.phone}] if data.phone else []
    telecom += [{"system": "email", "value": data.email}] if data.email else []
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": str(record.id),
        "identifier": [{"system": RPPS, "value": data.rpps}],
        "name": [{"family": data.family_name, "given": data.given_names.split()}],
    }
    if telecom:
        resource["telecom"] = telecom
    if data.specialty:
        resource["qualification"] = [{"code": {"text": data.specialty}}]
    return resource


def practitioner(record: PhysicianRecord) -> Practitioner:
    return Practitioner.model_validate(practitioner_json(record))
