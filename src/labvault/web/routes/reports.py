"""Reports: release (partial or final), the released versions and their stored PDFs, and a
patient's cumulative history (JSON series, or the PDF with its trend charts)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from labvault.web.bounds import Version
from labvault.web.deps import Ctx, PlatformDep
from labvault.web.workflow_schemas import PDF_RESPONSES, HistoryOut, ReportOut, pdf_response

router = APIRouter(tags=["reports"])


@router.post("/orders/{order_id}/reports", response_model=ReportOut, status_code=status.HTTP_201_CREATED)
def release_report(order_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> ReportOut:
    """Sign out what is biologically validated: partial while tests are pending, final when all are.
    409 when nothing is validated or nothing changed since the last version."""
    return ReportOut.of(platform.reports.release(ctx, order_id))


@router.get("/orders/{order_id}/reports", response_model=list[ReportOut])
def list_reports(order_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> list[ReportOut]:
    return [ReportOut.of(info) for info in platform.reports.list(ctx, order_id)]


@router.get("/orders/{order_id}/reports/{version}.pdf", response_class=Response, responses=PDF_RESPONSES)
def report_pdf(order_id: uuid.UUID, version: Version, ctx: Ctx, platform: PlatformDep) -> Response:
    """The PDF exactly as released. A report holding a restricted result is for biologists, or for
    a caller whose break-the-glass override for the patient is open (``POST /api/v1/break-glass``)."""
    pdf = platform.reports.pdf(ctx, order_id, version)
    return pdf_response(pdf, f"report-v{version}.pdf")


@router.get("/patients/{patient_id}/history", response_model=HistoryOut)
def history(patient_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> HistoryOut:
    """Validated numeric results over time, one series per test, with today's reference range."""
    return HistoryOut.of(patient_id, platform.reports.history(ctx, patient_id))


@router.get("/patients/{patient_id}/history.pdf", response_class=Response, responses=PDF_RESPONSES)
def history_pdf(patient_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> Response:
    return pdf_response(platform.reports.history_pdf(ctx, patient_id), "cumulative-history.pdf")
