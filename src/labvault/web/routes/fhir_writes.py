"""FHIR writes at /fhir: ``POST /fhir/Patient`` registers a patient, ``POST /fhir`` takes a
transaction Bundle submitting an order (the patient found by id or identifier, one
ServiceRequest per test). Each goes through the patient or order service in one transaction:
validated, encrypted and audited as the JSON API's writes are."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from fhir.resources.R4B.patient import Patient
from starlette.concurrency import run_in_threadpool

from labvault.errors import Forbidden, InvalidInput
from labvault.interop.fhir.order_in import PatientRef, submitted_order
from labvault.interop.fhir.patient import patient
from labvault.interop.fhir.patient_in import patient_data
from labvault.interop.fhir.reading import read_json, read_resource
from labvault.platform import Platform
from labvault.security.access import AccessContext
from labvault.web.deps import Ctx, PlatformDep
from labvault.web.routes.fhir import by_identifier
from labvault.web.routes.fhir_common import ERRORS, FhirResponse, base_url
from labvault.workflow.order_data import OrderRequest

router = APIRouter(tags=["fhir"], default_response_class=FhirResponse, responses=ERRORS)
BODY = {"content": {"application/fhir+json": {"schema": {"type": "object"}}}, "required": True}


@router.post("/Patient", status_code=status.HTTP_201_CREATED, openapi_extra={"requestBody": BODY})
async def create_patient(request: Request, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    """Register a patient from a Patient resource; 409 (an OperationOutcome) on a duplicate NIR or
    name + birth date (confirm a homonym through the JSON API)."""
    data = patient_data(read_resource(read_json(await request.body()), Patient))
    record = await run_in_threadpool(platform.patients.register, ctx, data)
    location = f"{base_url(request)}/Patient/{record.id}"
    return FhirResponse(
        patient(record).model_dump(mode="json"), status_code=201, headers={"Location": location}
    )


@router.post("", openapi_extra={"requestBody": BODY})
async def transaction(request: Request, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    """A transaction Bundle submitting one order; answers a transaction-response Bundle."""
    document = read_json(await request.body())
    body = await run_in_threadpool(_submit, document, ctx, platform)
    return FhirResponse(body)


def _submit(document: dict[str, Any], ctx: AccessContext, platform: Platform) -> dict[str, Any]:
    if ctx.lab_id is None:
        raise Forbidden("orders are submitted by a laboratory's account")
    catalog = platform.catalogs.active(ctx.lab_id)
    order = submitted_order(document, catalog)
    patient_id = _patient(order.patient, ctx, platform)
    record = platform.orders.create(
        ctx,
        OrderRequest(
            patient_id=patient_id,
            tests=order.tests,
            prescriber_id=order.prescriber_id,
            prescriber_rpps=order.prescriber_rpps,
            prescribed_on=order.prescribed_on,
            urgent=order.urgent,
        ),
    )
    items = {item.test_code: item.id for item in record.items}
    responses: dict[int, dict[str, Any]] = {
        position: {"status": "201 Created", "location": f"ServiceRequest/{items[code]}"}
        for position, code in zip(order.entries, order.tests, strict=True)
    }
    if order.patient_entry is not None:
        responses[order.patient_entry] = {"status": "200 OK", "location": f"Patient/{patient_id}"}
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": responses[p]} for p in sorted(responses)],
    }


def _patient(ref: PatientRef, ctx: AccessContext, platform: Platform) -> uuid.UUID:
    if ref.patient_id is not None:
        return platform.patients.get(ctx, ref.patient_id).id
    assert ref.value is not None
    found = by_identifier(ctx, platform, ref.system, ref.value)
    if len(found) != 1:
        reason = "no patient" if not found else "several patients"
        raise InvalidInput("ServiceRequest.subject", f"{reason} with this identifier in this laboratory")
    return found[0].id
