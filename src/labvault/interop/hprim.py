"""HPRIM Santé export of a released report, for doctors' software, produced only encrypted.

The file: the 12-line HPRIM header (patient code, birth name, first names, two address lines,
postcode and town, birth date, NIR, the lab's reference, the collection date, the lab, the
prescriber), the report as text, then ``****LAB****`` and one ``RES|`` line per result (label,
code, type N numeric or A alphanumeric, value, unit, lower and upper normal, abnormality flag,
status F or C), ``****FIN****`` and ``****FINFICHIER****``; ISO-8859-1, CRLF.

It exists only in memory and leaves encrypted to the recipient's age key (pyrage; the doctor
opens it with ``age -d -i key.txt``): never written in clear, temporary files included. The
address lines stay empty: the lab's address book is not the doctor's business to receive.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pyrage
from pyrage import x25519

from labvault.errors import InvalidInput
from labvault.reports.view import ResultLine
from labvault.security.access import AccessContext
from labvault.workflow.report_service import ReleasedReport, ReportService

ACTION = "report.export_hprim"
FLAGS = frozenset({"L", "H", "LL", "HH", "A", "N"})
_RANGE = re.compile(r"^\s*([<>]?)\s*(-?[0-9.,]+)?\s*(?:[-–]\s*(-?[0-9.,]+))?\s*$")


@dataclass(frozen=True)
class HprimExport:
    """A report as an HPRIM file encrypted to one age recipient."""

    reports: ReportService

    def encrypted(self, ctx: AccessContext, order_id: uuid.UUID, recipient: str) -> bytes:
        """The age-encrypted HPRIM file of the order's latest released report (audited)."""
        key = _recipient(recipient)
        released = self.reports.for_export(ctx, order_id, ACTION)
        return bytes(pyrage.encrypt(hprim_file(released), [key]))


def _recipient(text: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(text.strip())
    except Exception:  # pyrage raises its own errors on a malformed key
        raise InvalidInput("recipient", "not an age X25519 recipient (age1...)") from None


def _clean(text: str | None) -> str:
    """One field: no line break, no field separator, the report's en dash as a hyphen (Latin-1)."""
    return (text or "").replace("\r", " ").replace("\n", " ").replace("|", "/").replace("–", "-").strip()


def _bounds(reference: str | None) -> tuple[str, str]:
    """``12.0 - 16.0`` -> ("12.0", "16.0"); ``< 5.0`` -> ("", "5.0"); ``> 60`` -> ("60", "")."""
    if not reference:
        return "", ""
    found = _RANGE.match(reference)
    if found is None:
        return "", ""
    sign, low, high = found.groups()
    if sign == "<":
        return "", low or ""
    if sign == ">":
        return low or "", ""
    return low or "", high or ""


def _numeric(value: str) -> bool:
    try:
        float(value.replace(",", "."))
    except ValueError:
        return False
    return True


def _res(line: ResultLine) -> str:
    assert line.value is not None
    low, high = _bounds(line.reference)
    flag = line.flag if line.flag in FLAGS else "N"
    fields = [
        "RES",
        _clean(line.test_name),
        _clean(line.test_code),
        "N" if _numeric(line.value) else "A",
        _clean(line.value),
        _clean(line.unit),
        low,
        high,
        flag,
        "C" if line.version > 1 else "F",
    ]
    return "|".join(fields)


def hprim_file(released: ReleasedReport) -> bytes:
    """The HPRIM Santé file, ISO-8859-1 with CRLF (characters outside it become ``?``)."""
    view, patient = released.view, released.patient
    shown = [line for line in view.lines if line.value is not None]
    collected = view.collected_at.strftime("%d/%m/%Y") if view.collected_at else ""
    header = [
        str(released.patient_id),
        _clean(patient.birth_name).upper(),
        _clean(patient.first_names),
        "",
        "",
        "",
        patient.birth_date.strftime("%d/%m/%Y"),
        _clean(patient.nir),
        _clean(released.accession),
        collected,
        _clean(f"{view.lab.code} {view.lab.name}"),
        _clean(f"{view.prescriber.rpps} {view.prescriber.name}") if view.prescriber else "",
    ]
    kind = "compte rendu complet" if view.kind == "final" else "compte rendu partiel"
    text = [f"{view.lab.name} - {kind}, version {view.version}", ""]
    for line in shown:
        unit = f" {line.unit}" if line.unit else ""
        reference = f"  ({line.reference})" if line.reference else ""
        flag = f"  {line.flag}" if line.flag and line.flag != "N" else ""
        text.append(_clean(f"{line.test_name}: {line.value}{unit}{reference}{flag}"))
        if line.comment:
            text.append(_clean(f"    {line.comment}"))
    lines = [
        *header,
        *text,
        "****LAB****",
        *(_res(line) for line in shown),
        "****FIN****",
        "****FINFICHIER****",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("iso-8859-1", errors="replace")
