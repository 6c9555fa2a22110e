"""An ordered test (an order item) as an R4B ServiceRequest: one per test, grouped by the order's
accession number as ``requisition``; its status follows the item's progress on the bench."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.servicerequest import ServiceRequest

from labvault.catalog.model import TestDefinition
from labvault.interop.fhir.codes import reference, test_concept
from labvault.interop.fhir.systems import ACCESSION, instant
from labvault.workflow.order_data import ItemRecord, OrderRecord

# An item is pending, entered, technically validated, then validated (signed).
STATUSES = {"pending": "active", "entered": "active", "tech_validated": "active", "validated": "completed"}


def service_request_json(order: OrderRecord, item: ItemRecord, test: TestDefinition | None) -> dict[str, Any]:
    """The resource as JSON, for searches (the R4B model's validation costs about a
    millisecond a resource; the tests parse every answer with it)."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(item.id),
        "requisition": {"system": ACCESSION, "value": order.accession},
        "status": STATUSES.get(item.status, "unknown"),
        "intent": "order",
        "priority": "stat" if order.urgent else "routine",
        "code": test_concept(item.test_code, item.test_name, test),
        "subject": reference("Patient", order.patient_id),
        "authoredOn": order.prescribed_on.isoformat() if order.prescribed_on else instant(order.created_at),
    }
    if order.prescriber_id is not None:
        resource["requester"] = reference("Practitioner", order.prescriber_id)
    if item.specimen_id is not None:
        resource["specimen"] = [reference("Specimen", item.specimen_id)]
    return resource


def service_request(order: OrderRecord, item: ItemRecord, test: TestDefinition | None) -> ServiceRequest:
    return ServiceRequest.model_validate(service_request_json(order, item, test))
