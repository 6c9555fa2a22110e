"""An ORU^R01 (v2.5) carrying a released report to a receiver: PID (labvault's patient id and the
INS), ORC/OBR for the order, one OBX per result shown on the report (LOINC when the catalogue has
it, else the lab's code), NTE for a result's comment. A result awaiting validation on a partial
report is not sent; restricted tests only to a receiver entitled to them (interop/outbox.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from labvault.catalog.model import Catalog
from labvault.identity.patient_data import PatientData
from labvault.identity.validation import INS_OID_NIR, INS_OID_TEST_NIR
from labvault.interop.hl7v2.escaping import escape
from labvault.reports.view import ReportView

VERSION = "2.5"
FLAGS = frozenset({"L", "H", "LL", "HH", "A", "N"})  # HL7 table 0078


@dataclass(frozen=True)
class OruHeader:
    lab_code: str
    receiver: str  # the receiver's interface account
    control_id: str
    at: dt.datetime


def _ts(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def build_oru(
    header: OruHeader,
    patient_id: uuid.UUID,
    patient: PatientData,
    accession: str,
    view: ReportView,
    catalog: Catalog,
    left_out: Collection[str],
) -> bytes:
    """The message, UTF-8, segments ended by CR; ``left_out``: test codes not sent."""
    identifiers = [f"{patient_id}^^^LABVAULT^PI"]
    if patient.ins and patient.ins_oid in (INS_OID_NIR, INS_OID_TEST_NIR):
        identifiers.append(f"{escape(patient.ins)}^^^ASIP-SANTE-INS-NIR&{patient.ins_oid}&ISO^INS")
    name = f"{escape(patient.birth_name)}^{escape(patient.first_names.split(' ')[0])}^^^^^L"
    if patient.used_name:
        name += f"~{escape(patient.used_name)}^{escape(patient.first_names.split(' ')[0])}^^^^^D"
    final = view.kind == "final"
    corrected = view.version > 1
    order_status = "C" if corrected else ("F" if final else "P")
    prescriber = ""
    if view.prescriber is not None:
        prescriber = f"{escape(view.prescriber.rpps)}^{escape(view.prescriber.name)}"
    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                "LABVAULT",
                escape(header.lab_code),
                escape(header.receiver),
                "",
                _ts(header.at),
                "",
                "ORU^R01^ORU_R01",
                header.control_id,
                "P",
                VERSION,
                "",
                "",
                "AL",
                "NE",
                "FRA",
                "UNICODE UTF-8",
            ]
        ),
        "|".join(
            [
                "PID",
                "1",
                "",
                "~".join(identifiers),
                "",
                name,
                "",
                patient.birth_date.strftime("%Y%m%d"),
                patient.sex,
            ]
        ),
        "|".join(["ORC", "RE", escape(accession), escape(accession)]),
        "|".join(
            [
                "OBR",
                "1",
                escape(accession),
                escape(accession),
                f"{escape(accession)}^Compte rendu^L",
                "",
                "",
                _ts(view.collected_at) if view.collected_at else "",  # OBR-7
                *[""] * 8,
                prescriber,  # OBR-16
                *[""] * 5,
                _ts(view.issued_at),  # OBR-22: results reported
                "",
                "",
                order_status,  # OBR-25: P, F or C
            ]
        ),
    ]
    number = 0
    for line in view.lines:
        if line.value is None or line.test_code in left_out:
            continue
        number += 1
        test = catalog.get(line.test_code)
        code = (
            f"{test.loinc}^{escape(line.test_name)}^LN^{escape(line.test_code)}^{escape(line.test_name)}^L"
            if test is not None and test.loinc
            else f"{escape(line.test_code)}^{escape(line.test_name)}^L"
        )
        numeric = _numeric(line.value)
        flag = line.flag if line.flag in FLAGS else ""
        segments.append(
            "|".join(
                [
                    "OBX",
                    str(number),
                    "NM" if numeric else "ST",
                    code,
                    "1",
                    escape(line.value),
                    escape(line.unit or ""),
                    escape(line.reference or ""),
                    flag,
                    "",
                    "",
                    "C" if line.version > 1 else "F",
                    "",
                    "",
                    _ts(view.issued_at),
                ]
            )
        )
        if line.comment:
            segments.append("|".join(["NTE", "1", "L", escape(line.comment)]))
    return ("\r".join(segments) + "\r").encode("utf-8")
