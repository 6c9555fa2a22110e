"""A result (an order item's current result version) as an R4B Observation: the test's LOINC and
lab codes, the value as a Quantity when it is a number (with its comparator) else as a string, the
reference range and flag chosen when it was entered, and its status on the bench."""

from __future__ import annotations

import re
from typing import Any

from fhir.resources.R4B.observation import Observation

from labvault.catalog.model import TestDefinition
from labvault.interop.fhir.codes import reference, test_concept
from labvault.interop.fhir.systems import INTERPRETATION, OBSERVATION_CATEGORY, instant
from labvault.workflow.order_data import ItemRecord, OrderRecord, ResultSummary

# labvault's result states -> Observation.status: signed by a biologist is final (amended when
# it corrects a signed version); entered or technically validated is preliminary.
STATUSES = {
    "entered": "preliminary",
    "tech_validated": "preliminary",
    "validated": "final",
    "withdrawn": "cancelled",
    "superseded": "entered-in-error",
}
FLAGS = {
    "N": "Normal",
    "L": "Low",
    "H": "High",
    "LL": "Critical low",
    "HH": "Critical high",
    "A": "Abnormal",
}
_NUMBER = re.compile(r"^(<=|>=|<|>)?\s*(-?\d+(?:[.,]\d+)?)$")


def status_of(result: ResultSummary) -> str:
    status = STATUSES.get(result.status, "unknown")
    return "amended" if status == "final" and result.version > 1 else status


def observation_json(order: OrderRecord, item: ItemRecord, test: TestDefinition | None) -> dict[str, Any]:
    """The resource as JSON, for searches (the R4B model's validation costs about a
    millisecond a resource; the tests parse every answer with it). ``item`` must carry a result
    (the routes list only those)."""
    result = item.result
    assert result is not None, "an Observation is a result: the item has none"
    specimen = next((s for s in order.specimens if s.id == item.specimen_id), None)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(item.id),
        "meta": {"versionId": str(result.version)},
        "basedOn": [reference("ServiceRequest", item.id)],
        "status": status_of(result),
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": test_concept(item.test_code, item.test_name, test),
        "subject": reference("Patient", order.patient_id),
        **_value(result),
    }
    if specimen is not None:
        resource["specimen"] = reference("Specimen", specimen.id)
        if specimen.collected_at is not None:
            resource["effectiveDateTime"] = instant(specimen.collected_at)
    issued = result.validated_at or result.entered_at
    if issued is not None:
        resource["issued"] = instant(issued)
    if result.flag in FLAGS:
        coding = {"system": INTERPRETATION, "code": result.flag, "display": FLAGS[result.flag]}
        resource["interpretation"] = [{"coding": [coding]}]
    if result.reference is not None and result.reference != (None, None):
        resource["referenceRange"] = [_range(result)]
    if result.comment:
        resource["note"] = [{"text": result.comment}]
    return resource


def _quantity(value: float, unit: str | None) -> dict[str, Any]:
    """The unit as the catalogue writes it (human-readable; not claimed to be a UCUM code)."""
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity["unit"] = unit
    return quantity


def _value(result: ResultSummary) -> dict[str, Any]:
    match = _NUMBER.match(result.value.strip())
    if match is None:
        return {"valueString": result.value} if result.value else {}
    quantity = _quantity(float(match.group(2).replace(",", ".")), result.unit)
    if match.group(1):
        quantity["comparator"] = match.group(1)
    return {"valueQuantity": quantity}


def _range(result: ResultSummary) -> dict[str, Any]:
    assert result.reference is not None
    low, high = result.reference
    found: dict[str, Any] = {}
    if low is not None:
        found["low"] = _quantity(low, result.unit)
    if high is not None:
        found["high"] = _quantity(high, result.unit)
    return found


def observation(order: OrderRecord, item: ItemRecord, test: TestDefinition | None) -> Observation:
    return Observation.model_validate(observation_json(order, item, test))
