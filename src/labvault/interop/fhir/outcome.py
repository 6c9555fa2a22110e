"""OperationOutcome: how every FHIR error answers, whatever labvault error it came from. The
diagnostics is the error's own value-free message (never a patient value)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome

from labvault.errors import InvalidInput


class FhirBadRequest(InvalidInput):
    """A request FHIR refuses with 400 (a malformed search, a body that is no valid resource);
    other refused values are 422 (web/errors.py)."""


# HTTP status -> the issue type (http://hl7.org/fhir/issue-type) that says the same.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    503: "transient",
}


def outcome(status: int, diagnostics: str, *, severity: str | None = None) -> dict[str, Any]:
    """One issue naming what went wrong; ``error`` for a 4xx/5xx, ``information`` otherwise."""
    code = ISSUE_CODES.get(status, "exception" if status >= 500 else "invalid")
    issue = {
        "severity": severity or ("error" if status >= 400 else "information"),
        "code": code,
        "diagnostics": diagnostics[:2000] or "error",
    }
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]}).model_dump(
        mode="json"
    )
