"""A transaction Bundle that submits an order, read into what the order service takes: the
patient (by id, or by identifier: found, never created here), one ServiceRequest per test (LOINC
or the lab's code, translated through the lab's catalogue), the prescriber (RPPS identifier or
Practitioner id), priority and prescription date. Pure: the route resolves the patient and calls
the order service, which writes the whole order in one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.servicerequest import ServiceRequest

from labvault.catalog.model import Catalog
from labvault.errors import InvalidInput
from labvault.interop.fhir.outcome import FhirBadRequest
from labvault.interop.fhir.reading import read_resource
from labvault.interop.fhir.systems import LOINC, RPPS, TEST_CODE

MAX_REQUESTS = 100


@dataclass(frozen=True)
class PatientRef:
    """Whom the order is for: ``patient_id``, or the identifier to find them by."""

    patient_id: uuid.UUID | None = None
    system: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class SubmittedOrder:
    patient: PatientRef
    tests: tuple[str, ...]  # catalogue codes, one per ServiceRequest entry
    entries: tuple[int, ...]  # the bundle position of each test's ServiceRequest
    patient_entry: int | None  # the position of a Patient entry, if the bundle had one
    prescriber_id: uuid.UUID | None
    prescriber_rpps: str | None
    urgent: bool
    prescribed_on: dt.date | None


def submitted_order(document: dict[str, Any], catalog: Catalog) -> SubmittedOrder:
    bundle = read_resource(document, Bundle)
    if bundle.type != "transaction":
        raise FhirBadRequest("Bundle.type", "must be transaction")
    entries = bundle.entry or []
    patients: dict[str, tuple[int, PatientRef]] = {}  # fullUrl -> the Patient entry
    requests: list[tuple[int, ServiceRequest]] = []
    for position, entry in enumerate(entries):
        where = f"Bundle.entry[{position}]"
        resource = entry.resource
        kind = resource.get_resource_type() if resource is not None else None
        if kind == "Patient":
            patients[entry.fullUrl or ""] = (position, _patient_entry(resource, where))
        elif kind == "ServiceRequest":
            if entry.request is None or entry.request.method != "POST":
                raise FhirBadRequest(f"{where}.request", "a ServiceRequest is submitted with POST")
            requests.append((position, resource))  # type: ignore[arg-type]
        else:
            raise FhirBadRequest(
                f"{where}.resource", "an order holds Patient and ServiceRequest entries only"
            )
    if not requests:
        raise FhirBadRequest("Bundle.entry", "an order needs at least one ServiceRequest")
    if len(requests) > MAX_REQUESTS:
        raise FhirBadRequest("Bundle.entry", f"at most {MAX_REQUESTS} ServiceRequests")
    subjects = {
        _subject(request.subject, patients, f"Bundle.entry[{p}].resource.subject") for p, request in requests
    }
    if len(subjects) != 1:
        raise FhirBadRequest(
            "ServiceRequest.subject", "every ServiceRequest of an order names the same patient"
        )
    requesters = {_requester(request.requester, f"Bundle.entry[{p}]") for p, request in requests} - {
        (None, None)
    }
    if len(requesters) > 1:
        raise FhirBadRequest(
            "ServiceRequest.requester", "every ServiceRequest of an order names the same prescriber"
        )
    prescriber_id, prescriber_rpps = requesters.pop() if requesters else (None, None)
    tests = tuple(_test(request, catalog, f"Bundle.entry[{p}].resource.code") for p, request in requests)
    if len(set(tests)) != len(tests):
        raise FhirBadRequest("ServiceRequest.code", "a test is requested twice")
    authored = {request.authoredOn for _, request in requests if request.authoredOn is not None}
    dates = {a.date() if isinstance(a, dt.datetime) else a for a in authored if isinstance(a, dt.date)}
    patient = subjects.pop()
    used = [pos for pos, ref in patients.values() if ref == patient]
    return SubmittedOrder(
        patient=patient,
        tests=tests,
        entries=tuple(p for p, _ in requests),
        patient_entry=used[0] if used else None,
        prescriber_id=prescriber_id,
        prescriber_rpps=prescriber_rpps,
        urgent=any(request.priority in ("urgent", "asap", "stat") for _, request in requests),
        prescribed_on=min(dates) if dates else None,
    )


def _patient_entry(resource: Any, where: str) -> PatientRef:
    for identifier in resource.identifier or []:
        if identifier.value:
            return PatientRef(system=identifier.system, value=identifier.value)
    raise FhirBadRequest(f"{where}.resource.identifier", "the patient is found by identifier (NIR or INS)")


def _subject(
    subject: Reference | None, patients: dict[str, tuple[int, PatientRef]], where: str
) -> PatientRef:
    if subject is None:
        raise FhirBadRequest(where, "is required")
    if subject.reference:
        reference = subject.reference
        if reference in patients:
            return patients[reference][1]
        if reference.startswith("Patient?identifier="):
            system, bar, value = reference.removeprefix("Patient?identifier=").partition("|")
            return PatientRef(system=system or None, value=value) if bar else PatientRef(value=system)
        if reference.startswith("Patient/"):
            try:
                return PatientRef(patient_id=uuid.UUID(reference.removeprefix("Patient/")))
            except ValueError:
                raise FhirBadRequest(where, "is not a Patient id of this server") from None
        raise FhirBadRequest(
            where, "must be Patient/<id>, Patient?identifier=..., or a Patient entry's fullUrl"
        )
    if subject.identifier is not None and subject.identifier.value:
        return PatientRef(system=subject.identifier.system, value=subject.identifier.value)
    raise FhirBadRequest(where, "names no patient")


def _requester(requester: Reference | None, where: str) -> tuple[uuid.UUID | None, str | None]:
    if requester is None:
        return None, None
    if requester.reference and requester.reference.startswith("Practitioner/"):
        try:
            return uuid.UUID(requester.reference.removeprefix("Practitioner/")), None
        except ValueError:
            raise FhirBadRequest(
                f"{where}.resource.requester", "is not a Practitioner id of this server"
            ) from None
    identifier = requester.identifier
    if identifier is not None and identifier.value and identifier.system in (RPPS, None):
        return None, identifier.value
    raise FhirBadRequest(f"{where}.resource.requester", "must be Practitioner/<id> or an RPPS identifier")


def _test(request: ServiceRequest, catalog: Catalog, where: str) -> str:
    """The catalogue code of the request's first LOINC or lab coding the catalogue knows."""
    codings = request.code.coding if request.code is not None and request.code.coding else []
    for coding in codings:
        if coding.system == TEST_CODE and coding.code and catalog.get(coding.code) is not None:
            return coding.code
        if coding.system == LOINC and coding.code:
            found = next((t.code for t in catalog.tests if t.loinc == coding.code), None)
            if found is not None:
                return found
    raise InvalidInput(where, f"no LOINC or lab code of catalogue {catalog.version}")
