"""Request and response bodies of the workflow API (orders, tubes, results, reports), with size
limits on every field. Responses are built from the services' records: ids, codes and statuses,
never a patient's identity (the client reads the patient through /patients/{id})."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Literal

from fastapi import Response
from pydantic import BaseModel, Field

from labvault.catalog.model import SECTIONS
from labvault.reports.view import HistoryView
from labvault.web.schemas import Strict
from labvault.workflow.order_data import (
    BillingAct,
    ItemRecord,
    OrderRecord,
    OrderRequest,
    ResultSummary,
    SpecimenRecord,
)
from labvault.workflow.report_service import ReportInfo
from labvault.workflow.result_entry import ResultEntry
from labvault.workflow.worklist import WorklistLine

MAX_BATCH = 5000
Code = Annotated[str, Field(min_length=1, max_length=16)]
Barcode = Annotated[str, Field(min_length=1, max_length=32)]
Comment = Annotated[str, Field(max_length=1000)]

PDF_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/pdf": {}}, "description": "the PDF, as an attachment"}
}


def pdf_response(content: bytes, filename: str) -> Response:
    """A PDF download. ``filename`` names the document by accession or version, never by patient:
    browsers keep download names in their history. Cache-Control: no-store comes from
    :class:`labvault.web.headers.SecurityHeaders`, like on every answer."""
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- orders ---------------------------------------------------------------------------------------


class OrderIn(Strict):
    patient_id: uuid.UUID
    tests: Annotated[tuple[Code, ...], Field(max_length=100)] = ()
    panels: Annotated[tuple[Code, ...], Field(max_length=100)] = ()
    prescriber_id: uuid.UUID | None = None
    prescriber_rpps: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    prescribed_on: dt.date | None = None
    drugs: Annotated[tuple[Annotated[str, Field(max_length=200)], ...], Field(max_length=50)] = ()
    clinical_info: Annotated[str, Field(max_length=2000)] | None = None
    urgent: bool = False
    fasting: bool | None = None

    def to_domain(self) -> OrderRequest:
        return OrderRequest(
            patient_id=self.patient_id,
            tests=self.tests,
            panels=self.panels,
            prescriber_id=self.prescriber_id,
            prescriber_rpps=self.prescriber_rpps,
            prescribed_on=self.prescribed_on,
            drugs=self.drugs,
            clinical_info=self.clinical_info,
            urgent=self.urgent,
            fasting=self.fasting,
        )


class ResultOut(BaseModel):
    id: uuid.UUID
    order_item_id: uuid.UUID
    version: int
    status: str
    value: str
    flag: str
    comment: str | None
    unit: str | None
    reference: tuple[float | None, float | None] | None
    previous: dict[str, str] | None
    delta: dict[str, float | None] | None
    critical_called: bool

    @classmethod
    def of(cls, summary: ResultSummary) -> ResultOut:
        return cls(**summary.__dict__)


class ResultVersionOut(ResultOut):
    correction_reason: str | None

    @classmethod
    def of_version(cls, summary: ResultSummary, correction_reason: str | None) -> ResultVersionOut:
        return cls(**summary.__dict__, correction_reason=correction_reason)


class ItemOut(BaseModel):
    id: uuid.UUID
    test_code: str
    test_name: str
    panel_code: str | None
    section: str
    tube: str
    nabm: str | None
    nabm_b: int | None
    restricted: bool
    calculated: bool
    status: str
    specimen_id: uuid.UUID | None
    result: ResultOut | None = Field(description="null until entered, and for roles that read no results")

    @classmethod
    def of(cls, item: ItemRecord) -> ItemOut:
        fields = {k: v for k, v in item.__dict__.items() if k != "result"}
        return cls(**fields, result=ResultOut.of(item.result) if item.result else None)


class SpecimenOut(BaseModel):
    id: uuid.UUID
    barcode: str
    tube: str
    specimen: str
    status: str
    collected_at: dt.datetime | None
    received_at: dt.datetime | None
    rejection_reason: str | None
    rejection_comment: str | None

    @classmethod
    def of(cls, record: SpecimenRecord) -> SpecimenOut:
        return cls(**record.__dict__)


class BillingActOut(BaseModel):
    nabm: str
    b: int | None
    label: str

    @classmethod
    def of(cls, act: BillingAct) -> BillingActOut:
        return cls(nabm=act.nabm, b=act.b, label=act.label)


class OrderOut(BaseModel):
    id: uuid.UUID
    lab_id: uuid.UUID
    accession: str
    patient_id: uuid.UUID
    prescriber_id: uuid.UUID | None
    prescribed_on: dt.date | None
    urgent: bool
    fasting: bool | None
    clinical_info: str | None
    drugs: list[str]
    catalog_version: str
    created_at: dt.datetime
    items: list[ItemOut]
    specimens: list[SpecimenOut]
    billing: list[BillingActOut]
    total_b: int
    hidden_items: int = Field(description="restricted items this caller may not see")
    clinical_context_withheld: bool = Field(
        description="clinical_info and drugs held back (empty here) with the restricted items this "
        "caller may not see: they may tell of those tests"
    )
    reports: list[int] = Field(description="versions of the released reports")

    @classmethod
    def of(cls, record: OrderRecord) -> OrderOut:
        return cls(
            id=record.id,
            lab_id=record.lab_id,
            accession=record.accession,
            patient_id=record.patient_id,
            prescriber_id=record.prescriber_id,
            prescribed_on=record.prescribed_on,
            urgent=record.urgent,
            fasting=record.fasting,
            clinical_info=record.clinical_info,
            drugs=list(record.drugs),
            catalog_version=record.catalog_version,
            created_at=record.created_at,
            items=[ItemOut.of(i) for i in record.items],
            specimens=[SpecimenOut.of(s) for s in record.specimens],
            billing=[BillingActOut.of(a) for a in record.billing],
            total_b=record.total_b,
            hidden_items=record.hidden_items,
            clinical_context_withheld=record.clinical_context_withheld,
            reports=list(record.reports),
        )


class OrderList(BaseModel):
    results: list[OrderOut]


# --- specimens ------------------------------------------------------------------------------------


class BarcodeIn(Strict):
    """A scanned tube: the barcode travels in the body, never in a URL."""

    barcode: Barcode


class CollectIn(BarcodeIn):
    collected_at: dt.datetime | None = Field(default=None, description="with a time zone; default now")


class RejectIn(BarcodeIn):
    reason: Annotated[str, Field(min_length=1, max_length=24)]
    comment: Annotated[str, Field(max_length=500)] | None = None


# --- results --------------------------------------------------------------------------------------

Stage = Literal["entry", "technical", "biological"]
# Every catalogue files its tests under these bench sections (the loader refuses others).
SECTION_PATTERN = "^(" + "|".join(re.escape(section) for section in SECTIONS) + ")$"


class WorklistLineOut(BaseModel):
    item_id: uuid.UUID
    order_id: uuid.UUID
    accession: str
    patient_id: uuid.UUID
    urgent: bool
    test_code: str
    test_name: str
    section: str
    status: str
    calculated: bool
    result: ResultOut | None

    @classmethod
    def of(cls, line: WorklistLine) -> WorklistLineOut:
        fields = {k: v for k, v in line.__dict__.items() if k != "result"}
        return cls(**fields, result=ResultOut.of(line.result) if line.result else None)


class ResultEntryIn(Strict):
    item_id: uuid.UUID
    value: Annotated[str, Field(min_length=1, max_length=2000)]
    comment: Comment | None = None
    correction_reason: Comment | None = None

    def to_domain(self) -> ResultEntry:
        return ResultEntry(self.item_id, self.value, self.comment, self.correction_reason)


class ResultBatchIn(Strict):
    entries: Annotated[list[ResultEntryIn], Field(min_length=1, max_length=MAX_BATCH)]


class ValidateIn(Strict):
    item_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_BATCH)]


class ValidatedOut(BaseModel):
    validated: int


class CriticalCallIn(Strict):
    called_party: Annotated[str, Field(min_length=3, max_length=200)]
    method: Literal["phone", "in_person", "secure_message"]
    note: Comment | None = None


class CriticalCallOut(BaseModel):
    id: uuid.UUID
    item_id: uuid.UUID


# --- reports --------------------------------------------------------------------------------------


class ReportOut(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    version: int
    kind: str
    restricted: bool
    released_at: dt.datetime
    results: int

    @classmethod
    def of(cls, info: ReportInfo) -> ReportOut:
        return cls(**info.__dict__)


class TrendPointOut(BaseModel):
    date: dt.date
    value: float


class HistorySeriesOut(BaseModel):
    test_code: str
    test_name: str
    unit: str | None
    low: float | None
    high: float | None
    points: list[TrendPointOut]


class HistoryOut(BaseModel):
    """Validated numeric results over time, one series per test (no identity: see /patients/{id})."""

    patient_id: uuid.UUID
    generated_at: dt.datetime
    series: list[HistorySeriesOut]

    @classmethod
    def of(cls, patient_id: uuid.UUID, view: HistoryView) -> HistoryOut:
        return cls(
            patient_id=patient_id,
            generated_at=view.generated_at,
            series=[
                HistorySeriesOut(
                    test_code=s.test_code,
                    test_name=s.test_name,
                    unit=s.unit,
                    low=s.low,
                    high=s.high,
                    points=[TrendPointOut(date=p.date, value=p.value) for p in s.points],
                )
                for s in view.series
            ],
        )
