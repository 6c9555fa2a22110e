"""A tube as an R4B Specimen: its barcode, the order's accession, what it holds and in which
tube, when it was drawn and received, and why it was rejected if it was."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.specimen import Specimen

from labvault.interop.fhir.codes import reference
from labvault.interop.fhir.systems import ACCESSION, BARCODE, instant
from labvault.workflow.order_data import OrderRecord, SpecimenRecord

STATUSES = {
    "awaited": "unavailable",
    "collected": "available",
    "received": "available",
    "rejected": "unsatisfactory",
}


def specimen_json(order: OrderRecord, tube: SpecimenRecord) -> dict[str, Any]:
    """The resource as JSON, for searches (the R4B model's validation costs about a
    millisecond a resource; the tests parse every answer with it)."""
    resource: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": str(tube.id),
        "identifier": [{"system": BARCODE, "value": tube.barcode}] if tube.barcode else None,
        "accessionIdentifier": {"system": ACCESSION, "value": order.accession},
        "status": STATUSES.get(tube.status, "unavailable"),
        "type": {"text": tube.specimen},
        "subject": reference("Patient", order.patient_id),
        "request": [reference("ServiceRequest", i.id) for i in order.items if i.specimen_id == tube.id]
        or None,
        "container": [{"description": tube.tube}],
    }
    if tube.received_at is not None:
        resource["receivedTime"] = instant(tube.received_at)
    if tube.collected_at is not None:
        resource["collection"] = {"collectedDateTime": instant(tube.collected_at)}
    if tube.rejection_reason:
        resource["condition"] = [{"text": f"rejected: {tube.rejection_reason}"}]
    return {k: v for k, v in resource.items() if v is not None}


def specimen(order: OrderRecord, tube: SpecimenRecord) -> Specimen:
    return Specimen.model_validate(specimen_json(order, tube))
