"""Reading a FHIR resource a client sent: JSON in, an R4B model out, or a 400 that says where the
body is wrong without echoing what it held."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from labvault.interop.fhir.outcome import FhirBadRequest

ResourceT = TypeVar("ResourceT", bound=Resource)


def read_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FhirBadRequest("body", "is not JSON") from None
    if not isinstance(document, dict):
        raise FhirBadRequest("body", "is not a FHIR resource (a JSON object)")
    return document


def read_resource(document: dict[str, Any], model: type[ResourceT]) -> ResourceT:
    """``document`` as ``model``: its resourceType must be the model's, its fields valid R4."""
    expected = model.get_resource_type()
    if document.get("resourceType") != expected:
        raise FhirBadRequest("resourceType", f"must be {expected}")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or expected
        raise FhirBadRequest(
            f"{expected}.{where}", f"is not valid R4: {first.get('msg', 'invalid')}"
        ) from None
