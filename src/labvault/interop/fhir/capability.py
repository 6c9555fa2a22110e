"""The CapabilityStatement at /fhir/metadata, and the search parameters each resource takes:
one table the routes check searches against, so the statement cannot drift from what is served."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from labvault.interop.fhir.systems import FHIR_JSON, FHIR_VERSION

# resource type -> {search parameter: its FHIR type}
SEARCH_PARAMS: dict[str, dict[str, str]] = {
    "Patient": {
        "_id": "token",
        "identifier": "token",
        "family": "string",
        "name": "string",
        "birthdate": "date",
    },
    "Observation": {
        "subject": "reference",
        "patient": "reference",
        "code": "token",
        "date": "date",
        "status": "token",
    },
    "DiagnosticReport": {"subject": "reference", "patient": "reference", "_include-pdf": "token"},
    "Specimen": {"subject": "reference", "patient": "reference"},
    "ServiceRequest": {"subject": "reference", "patient": "reference", "code": "token", "status": "token"},
    "Practitioner": {"identifier": "token"},
    "AuditEvent": {"patient": "reference", "_before": "number"},
}
CREATABLE = frozenset({"Patient"})
RELEASED = dt.date(2026, 12, 8)


def supported(resource_type: str) -> frozenset[str]:
    return frozenset(SEARCH_PARAMS[resource_type])


def capability_statement(base: str, software_version: str) -> CapabilityStatement:
    resources: list[dict[str, Any]] = []
    for resource_type, params in SEARCH_PARAMS.items():
        interactions = [{"code": "search-type"}]
        if resource_type != "AuditEvent":
            interactions.insert(0, {"code": "read"})
        if resource_type in CREATABLE:
            interactions.append({"code": "create"})
        resources.append(
            {
                "type": resource_type,
                "interaction": interactions,
                "searchParam": [{"name": name, "type": kind} for name, kind in params.items()],
            }
        )
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASED.isoformat(),
        "kind": "instance",
        "software": {"name": "labvault", "version": software_version},
        "implementation": {"description": "labvault laboratory information system", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Every identifying field is encrypted and every access audited. Searches "
                    "carrying identifiers or names may be POSTed to [type]/_search (form body) so "
                    "that they stay out of URLs."
                ),
                "security": {
                    "cors": False,
                    "description": "Bearer token (POST /api/v1/auth/login or `labvault token create`).",
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}],
            }
        ],
    }
    return CapabilityStatement.model_validate(statement)
