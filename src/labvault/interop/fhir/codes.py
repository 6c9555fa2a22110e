"""A catalogue test as a CodeableConcept: its LOINC code when the catalogue has one, and always
the lab's own code and name (what a report prints)."""

from __future__ import annotations

from typing import Any

from labvault.catalog.model import TestDefinition
from labvault.interop.fhir.systems import LOINC, TEST_CODE


def test_concept(code: str, name: str, test: TestDefinition | None) -> dict[str, Any]:
    coding: list[dict[str, Any]] = []
    if test is not None and test.loinc:
        coding.append({"system": LOINC, "code": test.loinc, "display": test.name_en})
    coding.append({"system": TEST_CODE, "code": code, "display": name})
    return {"coding": coding, "text": name}


def matches(concept: dict[str, Any], system: str | None, code: str) -> bool:
    """Whether a ``code`` search token (``system|code`` or ``code``) names this concept."""
    return any(
        c.get("code") == code and (system is None or c.get("system") == system) for c in concept["coding"]
    )


def reference(resource_type: str, ident: object) -> dict[str, str]:
    return {"reference": f"{resource_type}/{ident}"}
