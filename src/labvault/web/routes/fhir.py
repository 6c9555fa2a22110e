"""FHIR R4 at /fhir: the CapabilityStatement (public, as FHIR servers serve it), Patient and
Practitioner. A thin layer: the services decide, decrypt and audit; interop/fhir maps.

Patient searches: ``identifier`` (the NIR's system ``urn:oid:1.2.250.1.213.1.4.8`` or an INS
OID; no system: the NIR, then the INS), ``family`` (or ``name``) with ``birthdate``, or ``_id``.
POST ``Patient/_search`` with a form body keeps identifiers and names out of URLs; the next page's
link names the remaining patients by id, for the same reason."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request

from labvault.errors import NotFound
from labvault.identity.patient_data import PatientRecord
from labvault.identity.patient_service import MAX_RESULTS
from labvault.interop.fhir.capability import capability_statement
from labvault.interop.fhir.patient import patient, patient_json
from labvault.interop.fhir.practitioner import practitioner, practitioner_json
from labvault.interop.fhir.search import BadSearch, Search, parse_id
from labvault.interop.fhir.systems import INS, NIR, RPPS, urn_oid
from labvault.platform import Platform
from labvault.security.access import AccessContext
from labvault.web.deps import Ctx, PlatformDep
from labvault.web.routes.fhir_common import (
    ERRORS,
    FhirResponse,
    SearchDep,
    answer,
    base_url,
    parse,
    resource_id,
    search_answer,
)

router = APIRouter(tags=["fhir"], default_response_class=FhirResponse, responses=ERRORS)


@router.get("/metadata", openapi_extra={"security": []})
def metadata(request: Request) -> FhirResponse:
    """What this server supports (no token needed, as for every FHIR server's metadata)."""
    return answer(capability_statement(base_url(request), request.app.version))


# --- Patient --------------------------------------------------------------------------------------


@router.get("/Patient/{patient_id}")
def read_patient(patient_id: str, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    return answer(patient(platform.patients.get(ctx, resource_id("Patient", patient_id))))


@router.get("/Patient")
def search_patients(request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep) -> FhirResponse:
    """Search by identifier, by family (or name) with birthdate, or by _id (comma-separated)."""
    search = parse(raw, "Patient")
    records = find_patients(search, ctx, platform)
    resources = [patient_json(r) for r in records]
    return search_answer(request, raw, search, "Patient", resources, next_params=_remaining_ids)


@router.post("/Patient/_search")
def post_search_patients(request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep) -> FhirResponse:
    """The same search, its parameters in a form body (application/x-www-form-urlencoded)."""
    return search_patients(request, ctx, raw, platform)


def _remaining_ids(rest: Sequence[dict[str, Any]], count: int) -> list[tuple[str, str]]:
    return [("_id", ",".join(r["id"] for r in rest)), ("_count", str(count))]


def find_patients(search: Search, ctx: AccessContext, platform: Platform) -> list[PatientRecord]:
    """The patients the search names, each found (and audited) by the patient service."""
    names = search.names()
    if "_id" in names:
        if names != {"_id"}:
            raise BadSearch("_id", "is searched alone")
        return _by_ids(search.values["_id"], ctx, platform)
    if "identifier" in names:
        if names != {"identifier"}:
            raise BadSearch("identifier", "is searched alone")
        token = search.token("identifier")
        assert token is not None
        return by_identifier(ctx, platform, *token)
    if not names or names - {"family", "name", "birthdate"}:
        raise BadSearch("search", "search patients by identifier, by family and birthdate, or by _id")
    if {"family", "name"} <= names:
        raise BadSearch("name", "give family or name, not both")
    name = search.one("family") or search.one("name")
    birth_date = search.exact_date("birthdate")
    if name is None or birth_date is None:
        raise BadSearch(
            "birthdate" if name else "family",
            "patients are searched by name and birth date together (or by identifier)",
        )
    return platform.patients.find_by_name_birth(ctx, name, birth_date)


def by_identifier(
    ctx: AccessContext, platform: Platform, system: str | None, value: str
) -> list[PatientRecord]:
    """The NIR's system (or none): the NIR, then the INS if no NIR matched; an INS OID: the INS."""
    if system is None or system == NIR:
        return platform.patients.find_by_nir(ctx, value) or platform.patients.find_by_ins(ctx, value)
    if system in INS:
        found = platform.patients.find_by_ins(ctx, value)
        return [r for r in found if r.data.ins_oid and urn_oid(r.data.ins_oid) == system]
    raise BadSearch("identifier", f"system must be the NIR's ({NIR}) or an INS OID")


def _by_ids(values: list[str], ctx: AccessContext, platform: Platform) -> list[PatientRecord]:
    ids = [parse_id("_id", part.strip()) for value in values for part in value.split(",") if part.strip()]
    if len(ids) > MAX_RESULTS:
        raise BadSearch("_id", f"at most {MAX_RESULTS} ids")
    found: list[PatientRecord] = []
    for ident in dict.fromkeys(ids):
        try:
            found.append(platform.patients.get(ctx, ident))
        except NotFound:
            continue  # a search matches what it can see; a read of it answers 404
    return found


# --- Practitioner ---------------------------------------------------------------------------------


@router.get("/Practitioner/{practitioner_id}")
def read_practitioner(practitioner_id: str, ctx: Ctx, platform: PlatformDep) -> FhirResponse:
    return answer(practitioner(platform.physicians.get(ctx, resource_id("Practitioner", practitioner_id))))


@router.get("/Practitioner")
def search_practitioners(request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep) -> FhirResponse:
    """By RPPS: ``identifier=urn:oid:1.2.250.1.71.4.2.1|<RPPS>`` (or the bare number)."""
    search = parse(raw, "Practitioner")
    token = search.token("identifier")
    if token is None:
        raise BadSearch("identifier", "practitioners are searched by RPPS identifier")
    system, value = token
    if system not in (None, RPPS):
        raise BadSearch("identifier", f"system must be the RPPS's ({RPPS})")
    try:
        found = [practitioner_json(platform.physicians.find_by_rpps(ctx, value))]
    except NotFound:
        found = []
    return search_answer(request, raw, search, "Practitioner", found)


@router.post("/Practitioner/_search")
def post_search_practitioners(
    request: Request, ctx: Ctx, raw: SearchDep, platform: PlatformDep
) -> FhirResponse:
    return search_practitioners(request, ctx, raw, platform)
