"""FHIR R4 at /fhir, what a patient's orders hold: Observation (results), ServiceRequest (ordered
tests), Specimen (tubes), DiagnosticReport (released reports) and AuditEvent (the patient's access
log). Each search names its patient (``subject`` or ``patient``); the orders, reports and log are
read through their services, which hide restricted tests from who may not see them and audit the
read against the patient. A read by id fetches the order holding it, decided the same way: a
restricted test the caller may not see reads as absent, with the very answer of an unknown id."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request

from labvault.catalog.model import Catalog
from labvault.errors import NotFound
from labvault.interop.fhir.audit_event import audit_event_json
from labvault.interop.fhir.bundle import page_url, searchset
from labvault.interop.fhir.codes import matches
from labvault.interop.fhir.diagnostic_report import diagnostic_report, diagnostic_report_json
from labvault.interop.fhir.observation import observation, observation_json
from labvault.interop.fhir.search import BadSearch, Search
from labvault.interop.fhir.service_request import service_request, service_request_json
from labvault.interop.fhir.specimen import specimen, specimen_json
from labvault.oversight.access_log import MAX_PAGE, MAX_SEQ
from labvault.platform import Platform
from labvault.security.access import AccessContext
from labvault.web.deps import Ctx, PlatformDep
from labvault.web.routes.fhir_common import (
    ERRORS,
    FhirResponse,
    SearchDep,
    SearchInput,
    answer,
    base_url,
    parse,
    resource_id,
    search_answer,
)
from labvault.workflow.order_data import ItemRecord, OrderRecord

router = APIRouter(tags=["fhir"], default_response_class=FhirResponse, responses=ERRORS)


def _absent(resource_type: str) -> NotFound:
    return NotFound(f"no {resource_type} with this id in this laboratory")


def _subject(search: Search) -> uuid.UUID:
    """The patient a search is about: ``subject`` or ``patient``, one of them, required."""
    subject, patient = search.reference("subject", "Patient"), search.reference("patient", "Patient")
    if subject and patient and subject != patient:
        raise BadSearch("patient", "names another patient than subject")
    found = subject or patient
    if found is None:
        raise BadSearch("patient", "searches here name their patient (subject=Patient/<id> or patient=<id>)")
    return found


def _catalog(platform: Platform, ctx: AccessContext) -> Catalog:
    assert ctx.lab_id is not None  # a caller whose orders were read belongs to a lab
    return platform.catalogs.active(ctx.lab_id)


def _ordered_item(
    platform: Platform, ctx: AccessContext, resource_type: str, raw_id: str
) -> tuple[OrderRecord, ItemRecord]:
    """The order item an Observation or ServiceRequest id names, through the order holding it
    (decided and audited by the order service); absent alike whether unknown or not for ``ctx``."""
    item_id = resource_id(resource_type, raw_id)
    try:
        order = platform.orders.get_by_item(ctx, item_id)
    except NotFound:
        raise _absent(resource_type) from None
    item = next((i for i in order.items if i.id == item_id), None)
    if item is None:
        raise _absent(resource_type)
    return order, item


def _include_pdf(value: str) -> bool:
    if value not in ("true", "false"):
        raise BadSearch("_include-pdf", "must be true or false")
    return value == "true"


# --- Observation ----------------------------------------------------------------------------------


@router.get("/Observation/{observation_id}")
def read_observation(observation_id: str, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    order, item = _ordered_item(platform, ctx, "Observation", observation_id)
    if item.result is None:
        raise _absent("Observation")
    return answer(observation(order, item, _catalog(platform, ctx).get(item.test_code)))


def _observations(search: Search, ctx: AccessContext, platform: Platform) -> list[dict[str, Any]]:
    orders = platform.orders.for_patient(ctx, _subject(search))
    code, date, status = search.token("code"), search.date("date"), search.one("status")
    catalog = _catalog(platform, ctx) if orders else None
    found = []
    for order in orders:
        for item in order.items:
            if item.result is None:
                continue
            resource = observation_json(order, item, catalog.get(item.test_code) if catalog else None)
            if code is not None and not matches(resource["code"], *code):
                continue
            effective = resource.get("effectiveDateTime")
            if date is not None and not date.matches(
                dt.datetime.fromisoformat(effective) if effective else None
            ):
                continue
            if status is not None and resource["status"] not in status.split(","):
                continue
            found.append(resource)
    return found


@router.get("/Observation")
def search_observations(request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep) -> FhirResponse:
    """A patient's results: ``subject``/``patient``, and ``code``, ``date``, ``status``."""
    search = parse(raw, "Observation")
    return search_answer(request, raw, search, "Observation", _observations(search, ctx, platform))


@router.post("/Observation/_search")
def post_search_observations(
    request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep
) -> FhirResponse:
    return search_observations(request, ctx, raw, platform)


# --- ServiceRequest -------------------------------------------------------------------------------


@router.get("/ServiceRequest/{request_id}")
def read_service_request(request_id: str, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    order, item = _ordered_item(platform, ctx, "ServiceRequest", request_id)
    return answer(service_request(order, item, _catalog(platform, ctx).get(item.test_code)))


@router.get("/ServiceRequest")
def search_service_requests(
    request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep
) -> FhirResponse:
    """A patient's ordered tests: ``subject``/``patient``, and ``code``, ``status``."""
    search = parse(raw, "ServiceRequest")
    orders = platform.orders.for_patient(ctx, _subject(search))
    code, status = search.token("code"), search.one("status")
    catalog = _catalog(platform, ctx) if orders else None
    found = []
    for order in orders:
        for item in order.items:
            resource = service_request_json(order, item, catalog.get(item.test_code) if catalog else None)
            if code is not None and not matches(resource["code"], *code):
                continue
            if status is not None and resource["status"] not in status.split(","):
                continue
            found.append(resource)
    return search_answer(request, raw, search, "ServiceRequest", found)


@router.post("/ServiceRequest/_search")
def post_search_service_requests(
    request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep
) -> FhirResponse:
    return search_service_requests(request, ctx, raw, platform)


# --- Specimen -------------------------------------------------------------------------------------


@router.get("/Specimen/{specimen_id}")
def read_specimen(specimen_id: str, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    ident = resource_id("Specimen", specimen_id)
    try:
        order = platform.orders.get_by_specimen(ctx, ident)
    except NotFound:
        raise _absent("Specimen") from None
    tube = next((s for s in order.specimens if s.id == ident), None)
    if tube is None:
        raise _absent("Specimen")
    return answer(specimen(order, tube))


@router.get("/Specimen")
def search_specimens(request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep) -> FhirResponse:
    search = parse(raw, "Specimen")
    orders = platform.orders.for_patient(ctx, _subject(search))
    found = [specimen_json(order, tube) for order in orders for tube in order.specimens]
    return search_answer(request, raw, search, "Specimen", found)


@router.post("/Specimen/_search")
def post_search_specimens(request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep) -> FhirResponse:
    return search_specimens(request, ctx, raw, platform)


# --- DiagnosticReport -----------------------------------------------------------------------------


@router.get("/DiagnosticReport/{report_id}")
def read_diagnostic_report(report_id: str, request: Request, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    """One released report with its PDF (``presentedForm``) unless ``_include-pdf=false``."""
    ident = resource_id("DiagnosticReport", report_id)
    with_pdf = _include_pdf(request.query_params.get("_include-pdf", "true"))
    try:
        report = platform.reports.read(ctx, ident, with_pdf=with_pdf)
    except NotFound:
        raise _absent("DiagnosticReport") from None
    return answer(diagnostic_report(report))


@router.get("/DiagnosticReport")
def search_diagnostic_reports(
    request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep
) -> FhirResponse:
    """A patient's released reports, without their PDFs (``_include-pdf=true`` adds each one;
    a read of one report carries it)."""
    search = parse(raw, "DiagnosticReport")
    subject = _subject(search)
    include = _include_pdf(search.one("_include-pdf") or "false")
    reports = platform.reports.for_patient(ctx, subject)
    if include:
        reports = [platform.reports.read(ctx, r.info.id, with_pdf=True) for r in reports]
    found = [diagnostic_report_json(r) for r in reports]
    return search_answer(request, raw, search, "DiagnosticReport", found)


@router.post("/DiagnosticReport/_search")
def post_search_diagnostic_reports(
    request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep
) -> FhirResponse:
    return search_diagnostic_reports(request, ctx, raw, platform)


# --- AuditEvent -----------------------------------------------------------------------------------


@router.get("/AuditEvent")
def search_audit_events(request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep) -> FhirResponse:
    """Who accessed the patient's record, newest first (``patient``); paged by the log's own
    cursor: the next link carries ``_before``."""
    search = parse(raw, "AuditEvent")
    patient_id = _subject(search)
    count = search.integer("_count", 1, MAX_PAGE, 50)
    before = search.integer("_before", 1, MAX_SEQ, MAX_SEQ) if search.one("_before") else None
    page = platform.access_log.for_patient(ctx, patient_id, limit=count, before=before)
    base = base_url(request)
    next_url = None
    if page.next_before is not None:
        params = [("patient", str(patient_id)), ("_count", str(count)), ("_before", str(page.next_before))]
        next_url = page_url(base, "AuditEvent", params)
    resources = [audit_event_json(patient_id, entry) for entry in page.entries]
    return _page(request, raw, base, "AuditEvent", resources, next_url)


@router.post("/AuditEvent/_search")
def post_search_audit_events(
    request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep
) -> FhirResponse:
    return search_audit_events(request, ctx, raw, platform)


def _page(
    request: Request,
    raw: SearchInput,
    base: str,
    resource_type: str,
    resources: Sequence[dict[str, Any]],
    next_url: str | None,
) -> FhirResponse:
    self_url = f"{base}/{resource_type}/_search" if raw.posted else str(request.url)
    return FhirResponse(searchset(base, resources, total=None, self_url=self_url, next_url=next_url))
