"""Analyzer QC: control lots (declared by biologists and lab admins), QC values typed for a manual
analyzer, the Levey-Jennings series of a lot, the Westgard rejections awaiting a decision, and a
biologist's decision (docs/INTEROP.md, "Analyzer QC"). No patient data here: lab data, the
caller's lab only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from labvault.qc.service import MAX_COMMENT, MAX_LOT, MAX_POINTS, Event, LotInfo, QcPoint
from labvault.web.deps import Ctx, PlatformDep
from labvault.web.schemas import Strict

router = APIRouter(prefix="/qc", tags=["qc"])
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control character (PostgreSQL refuses a NUL in text)

Instrument = Annotated[
    str, Field(min_length=1, max_length=64, description="the interface account's username")
]
TestCode = Annotated[str, Field(min_length=1, max_length=16)]
Lot = Annotated[str, Field(min_length=1, max_length=MAX_LOT, description="the control's lot id, as sent")]
Number = Annotated[
    str,
    Field(
        min_length=1, max_length=40, pattern=r"^[+-]?[0-9]+([.,][0-9]+)?$", description="a decimal, e.g. 4.20"
    ),
]


class LotIn(Strict):
    instrument: Instrument
    test_code: TestCode
    lot: Lot
    mean: Number
    sd: Number
    level: Annotated[int, Field(ge=1, le=9)] | None = None


class LotOut(BaseModel):
    id: uuid.UUID
    instrument: str
    instrument_id: uuid.UUID
    test_code: str
    lot: str
    level: int | None
    mean: str
    sd: str
    active: bool

    @classmethod
    def of(cls, lot: LotInfo) -> LotOut:
        return cls(**vars(lot))


class QcValueIn(Strict):
    instrument: Instrument
    test_code: TestCode
    lot: Lot
    value: Number


class PointOut(BaseModel):
    id: uuid.UUID
    number: int = Field(description="the point's place in the lot's series, from 1")
    at: dt.datetime
    value: str
    z: float = Field(description="(value - mean) / SD")
    rules: list[str] = Field(description="Westgard rules broken: 1-2s (warning), 1-3s, 2-2s, R-4s, 4-1s, 10x")
    status: str = Field(description="in_control, warning, rejected")
    source: str = Field(description="astm, hl7v2, manual")
    decision: str | None = Field(description="a rejection's decision: accept, reject; null while pending")
    decided_at: dt.datetime | None
    decision_comment: str | None = Field(description="what the biologist checked or did (series, decision)")

    @classmethod
    def of(cls, point: QcPoint) -> PointOut:
        return cls(**(vars(point) | {"rules": list(point.rules)}))


class QcValueOut(BaseModel):
    point: PointOut
    lot: LotOut


class SeriesOut(BaseModel):
    lot: LotOut
    mean: str
    sd: str
    points: list[PointOut]


class EventOut(BaseModel):
    point: PointOut
    lot: LotOut

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(point=PointOut.of(event.point), lot=LotOut.of(event.lot))


class DecisionIn(Strict):
    decision: Literal["accept", "reject"]
    comment: Annotated[
        str, Field(min_length=3, max_length=MAX_COMMENT, description="what was checked or done")
    ]


@router.post("/lots", response_model=LotOut, status_code=status.HTTP_201_CREATED)
def add_lot(body: LotIn, ctx: Ctx, platform: PlatformDep) -> LotOut:
    """Declare a control lot as run on an instrument for a test, with its target mean and SD."""
    lot = platform.qc.add_lot(ctx, body.instrument, body.test_code, body.lot, body.mean, body.sd, body.level)
    return LotOut.of(lot)


@router.get("/lots", response_model=list[LotOut])
def list_lots(
    ctx: Ctx,
    platform: PlatformDep,
    instrument: Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE)] = None,
) -> list[LotOut]:
    """The lab's control lots, of one instrument if named."""
    return [LotOut.of(lot) for lot in platform.qc.lots(ctx, instrument)]


@router.post("/results", response_model=QcValueOut, status_code=status.HTTP_201_CREATED)
def enter_qc(body: QcValueIn, ctx: Ctx, platform: PlatformDep) -> QcValueOut:
    """A QC value typed for a manual analyzer, evaluated by the Westgard rules on arrival."""
    point, lot = platform.qc.record(ctx, body.instrument, body.test_code, body.lot, body.value)
    return QcValueOut(point=PointOut.of(point), lot=LotOut.of(lot))


@router.get("/series", response_model=SeriesOut)
def series(
    ctx: Ctx,
    platform: PlatformDep,
    instrument: Annotated[str, Query(min_length=1, max_length=64, pattern=PRINTABLE)],
    test: Annotated[str, Query(min_length=1, max_length=16, pattern=PRINTABLE)],
    lot: Annotated[str, Query(min_length=1, max_length=MAX_LOT, pattern=PRINTABLE)],
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = 200,
) -> SeriesOut:
    """A lot's Levey-Jennings data: its last points, oldest first, with their z-scores and rule
    flags, and the lot's target mean and SD."""
    found = platform.qc.series(ctx, instrument, test, lot, limit=limit)
    return SeriesOut(
        lot=LotOut.of(found.lot),
        mean=found.lot.mean,
        sd=found.lot.sd,
        points=[PointOut.of(p) for p in found.points],
    )


@router.get("/events", response_model=list[EventOut])
def pending_events(ctx: Ctx, platform: PlatformDep) -> list[EventOut]:
    """The Westgard rejections awaiting a biologist's decision: each holds the technical
    validation of its instrument's results of its test."""
    return [EventOut.of(event) for event in platform.qc.pending(ctx)]


@router.post("/events/{qc_result_id}/decision", response_model=EventOut)
def decide(qc_result_id: uuid.UUID, body: DecisionIn, ctx: Ctx, platform: PlatformDep) -> EventOut:
    """A biologist's decision on a rejection (accept: a false rejection; reject: the run was bad,
    the comment says what was done): either releases its hold. Audited; the comment sealed."""
    return EventOut.of(platform.qc.decide(ctx, qc_result_id, body.decision, body.comment))
