"""The identifier and code systems labvault's FHIR resources use, named once."""

from __future__ import annotations

import datetime as dt
from typing import Final

from labvault.identity.validation import INS_OID_NIR, INS_OIDS

FHIR_JSON: Final = "application/fhir+json"
FHIR_VERSION: Final = "4.0.1"

NIR: Final = f"urn:oid:{INS_OID_NIR}"  # the NIR, and the INS whose value is the NIR (same OID)
INS: Final = frozenset(f"urn:oid:{oid}" for oid in INS_OIDS)
RPPS: Final = "urn:oid:1.2.250.1.71.4.2.1"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"

# labvault's own systems: a lab's test codes, accession numbers and tube barcodes.
TEST_CODE: Final = "urn:labvault:test-code"
ACCESSION: Final = "urn:labvault:accession"
BARCODE: Final = "urn:labvault:specimen-barcode"
ACTION: Final = "urn:labvault:audit-action"

OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
REPORT_SECTION: Final = "http://terminology.hl7.org/CodeSystem/v2-0074"
DICOM: Final = "http://dicom.nema.org/resources/ontology/DCM"
IDENTIFIER_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"


def urn_oid(oid: str) -> str:
    return f"urn:oid:{oid}"


def instant(at: dt.datetime) -> str:
    """A FHIR instant: labvault's timestamps are aware (UTC); a naive one is taken as UTC."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()
