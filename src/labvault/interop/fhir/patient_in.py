"""A Patient a client sends, as labvault's PatientData: the official name (else the first) is the
birth name, a usual one the used name; the NIR and INS from their identifier systems. The
patient service validates the rest (NIR key, consistency with sex and birth date)."""

from __future__ import annotations

import datetime as dt

from fhir.resources.R4B.patient import Patient

from labvault.identity.patient_data import PatientData
from labvault.interop.fhir.outcome import FhirBadRequest
from labvault.interop.fhir.systems import INS, NIR

SEXES = {"male": "M", "female": "F", "other": "U", "unknown": "U"}


def patient_data(resource: Patient) -> PatientData:
    names = resource.name or []
    official = next((n for n in names if n.use == "official"), names[0] if names else None)
    if official is None or not official.family or not official.given:
        raise FhirBadRequest("Patient.name", "needs an official name with family and given names")
    usual = next((n for n in names if n.use == "usual" and n.family), None)
    if not isinstance(resource.birthDate, dt.date):
        raise FhirBadRequest("Patient.birthDate", "is required, a whole date (YYYY-MM-DD)")
    if resource.gender is None:
        raise FhirBadRequest("Patient.gender", "is required (male, female, other or unknown)")
    nir = ins = ins_oid = None
    for position, identifier in enumerate(resource.identifier or []):
        system = identifier.system or ""
        if system == NIR and nir is None:
            nir = identifier.value
        elif system in INS and ins is None:
            ins, ins_oid = identifier.value, system.removeprefix("urn:oid:")
        elif system in INS:
            raise FhirBadRequest(f"Patient.identifier[{position}]", "repeats a NIR or INS")
    telecom = resource.telecom or []
    phone = next((t.value for t in telecom if t.system == "phone"), None)
    email = next((t.value for t in telecom if t.system == "email"), None)
    address = next((a.text for a in resource.address or [] if a.text), None)
    return PatientData(
        birth_name=official.family,
        first_names=" ".join(g for g in official.given if g),
        sex=SEXES[resource.gender],
        birth_date=resource.birthDate,
        used_name=usual.family if usual else None,
        nir=nir,
        ins=ins,
        ins_oid=ins_oid,
        phone=phone,
        email=email,
        address=address,
    )
