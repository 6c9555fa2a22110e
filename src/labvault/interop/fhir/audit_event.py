"""One line of a patient's access log (who, role, lab, what, why, when) as an R4B AuditEvent.

The log's entries come from oversight/ (a sibling layer this package may not import): they are
taken by their shape, :class:`AccessLine`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol

from fhir.resources.R4B.auditevent import AuditEvent

from labvault.interop.fhir.codes import reference
from labvault.interop.fhir.systems import ACTION, DICOM, instant


class Words(Protocol):
    @property
    def en(self) -> str: ...


class AccessLine(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def who(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def lab_name(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def action_words(self) -> Words: ...
    @property
    def purpose(self) -> str: ...
    @property
    def break_glass(self) -> bool: ...


def action_code(action: str) -> str:
    """FHIR's C/R/U/D/E from labvault's action name (``patient.create``, ``order.read``...)."""
    verb = action.rsplit(".", 1)[-1]
    if verb in ("create", "register", "import"):
        return "C"
    if verb in ("update", "correct", "validate", "release", "enter"):
        return "U"
    if verb in ("delete", "erase"):
        return "D"
    return "R" if "read" in verb or verb in ("list", "search", "search_hit", "history") else "E"


def audit_event_json(patient_id: uuid.UUID, entry: AccessLine) -> dict[str, Any]:
    """The resource as JSON, for searches (the R4B model's validation costs about a
    millisecond a resource; the tests parse every answer with it)."""
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.seq),
        "type": {"system": DICOM, "code": "110110", "display": "Patient Record"},
        "subtype": [{"system": ACTION, "code": entry.action, "display": entry.action_words.en}],
        "action": action_code(entry.action),
        "recorded": instant(entry.at),
        "outcome": "0",
        "purposeOfEvent": [{"text": entry.purpose + (" (break the glass)" if entry.break_glass else "")}],
        "agent": [{"who": {"display": entry.who}, "role": [{"text": entry.role}], "requestor": True}],
        "source": {"observer": {"display": entry.lab_name or "labvault"}},
        "entity": [{"what": reference("Patient", patient_id)}],
    }
    return resource


def audit_event(patient_id: uuid.UUID, entry: AccessLine) -> AuditEvent:
    return AuditEvent.model_validate(audit_event_json(patient_id, entry))
