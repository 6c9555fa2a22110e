"""A released report as an R4B DiagnosticReport: final or partial, the Observations it holds, and
on request its PDF as released (base64 ``presentedForm``)."""

from __future__ import annotations

import base64
from typing import Any

from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from labvault.interop.fhir.codes import reference
from labvault.interop.fhir.systems import ACCESSION, LOINC, REPORT_SECTION, instant
from labvault.workflow.report_service import ReportRead

LAB_REPORT = {"system": LOINC, "code": "11502-2", "display": "Laboratory report"}


def diagnostic_report_json(report: ReportRead) -> dict[str, Any]:
    """The resource as JSON, for searches (the R4B model's validation costs about a
    millisecond a resource; the tests parse every answer with it)."""
    info = report.info
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(info.id),
        "meta": {"versionId": str(info.version)},
        "identifier": [{"system": ACCESSION, "value": f"{report.accession}-v{info.version}"}],
        "basedOn": [reference("ServiceRequest", i) for i in report.item_ids] or None,
        "status": "final" if info.kind == "final" else "partial",
        "category": [{"coding": [{"system": REPORT_SECTION, "code": "LAB", "display": "Laboratory"}]}],
        "code": {"coding": [LAB_REPORT], "text": "Compte rendu de biologie médicale"},
        "subject": reference("Patient", report.patient_id),
        "effectiveDateTime": instant(info.released_at),
        "issued": instant(info.released_at),
        "result": [reference("Observation", i) for i in report.item_ids] or None,
    }
    if report.pdf is not None:
        resource["presentedForm"] = [
            {
                "contentType": "application/pdf",
                "language": "fr",
                "data": base64.b64encode(report.pdf).decode("ascii"),
                "title": f"{report.accession}-v{info.version}.pdf",
            }
        ]
    return {k: v for k, v in resource.items() if v is not None}


def diagnostic_report(report: ReportRead) -> DiagnosticReport:
    return DiagnosticReport.model_validate(diagnostic_report_json(report))
