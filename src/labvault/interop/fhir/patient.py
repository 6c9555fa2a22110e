"""labvault's patient identity as an R4B Patient: NIR and INS identifiers, birth and used names,
sex, birth date, contact details. The free-text note stays out (it is for the lab's eyes)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.patient import Patient

from labvault.identity.patient_data import PatientRecord
from labvault.interop.fhir.systems import IDENTIFIER_TYPE, NIR, instant, urn_oid

GENDERS = {"M": "male", "F": "female", "U": "unknown"}


def patient_json(record: PatientRecord) -> dict[str, Any]:
    """The resource as JSON, for searches (the R4B model's validation costs about a
    millisecond a resource; the tests parse every answer with it)."""
    data = record.data
    identifiers: list[dict[str, Any]] = []
    if data.nir:
        identifiers.append({"use": "official", "system": NIR, "value": data.nir, **_type("NH")})
    if data.ins and data.ins_oid:
        ins: dict[str, Any] = {"system": urn_oid(data.ins_oid), "value": data.ins, **_type("INS")}
        identifiers.append(ins)
    names: list[dict[str, Any]] = [
        {"use": "official", "family": data.birth_name, "given": data.first_names.split()}
    ]
    if data.used_name and data.used_name != data.birth_name:
        names.append({"use": "usual", "family": data.used_name, "given": data.first_names.split()})
    telecom = [{"system": "phone", "value": data.phone}] if data.phone else []
    telecom += [{"system": "email", "value": data.email}] if data.email else []
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(record.id),
        "meta": {"versionId": str(record.revision), "lastUpdated": instant(record.updated_at)},
        "identifier": identifiers or None,
        "name": names,
        "telecom": telecom or None,
        "gender": GENDERS.get(data.sex, "unknown"),
        "birthDate": data.birth_date.isoformat(),
        "address": [{"text": data.address}] if data.address else None,
    }
    return {k: v for k, v in resource.items() if v is not None}


def _type(code: str) -> dict[str, Any]:
    """The identifier's kind: NH (national health number, the NIR) or INS (its qualified form)."""
    if code == "INS":
        return {"type": {"text": "INS"}}
    return {"type": {"coding": [{"system": IDENTIFIER_TYPE, "code": code}]}}


def patient(record: PatientRecord) -> Patient:
    return Patient.model_validate(patient_json(record))
