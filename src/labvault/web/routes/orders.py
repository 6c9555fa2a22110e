"""Prescriptions: register an order, read it (restricted items hidden unless the glass is broken),
a patient's orders, and the tube label sheet."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from labvault.errors import Conflict
from labvault.reports.render import render_labels_pdf
from labvault.web.deps import Ctx, PlatformDep
from labvault.web.workflow_schemas import (
    PDF_RESPONSES,
    OrderIn,
    OrderList,
    OrderOut,
    pdf_response,
)

router = APIRouter(tags=["orders"])


@router.post("/orders", response_model=OrderOut, status_code=status.HTTP_201_CREATED)
def create_order(body: OrderIn, ctx: Ctx, platform: PlatformDep) -> OrderOut:
    """Register a prescription: its tests (panels expanded), what it bills, and one awaited tube
    per tube type. Unknown codes are refused by position (``tests[2]``)."""
    return OrderOut.of(platform.orders.create(ctx, body.to_domain()))


@router.get("/orders/{order_id}", response_model=OrderOut)
def read_order(order_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> OrderOut:
    """The order as the caller may see it: result values only for roles that read results,
    restricted tests (HIV, hepatitis...) only for biologists, or while the caller's break-the-glass
    override for the patient is open (``POST /api/v1/break-glass``)."""
    return OrderOut.of(platform.orders.get(ctx, order_id))


@router.get("/patients/{patient_id}/orders", response_model=OrderList)
def patient_orders(patient_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> OrderList:
    """A patient's orders, newest first (at most 200)."""
    return OrderList(results=[OrderOut.of(r) for r in platform.orders.for_patient(ctx, patient_id)])


@router.get("/orders/{order_id}/labels.pdf", response_class=Response, responses=PDF_RESPONSES)
def order_labels(order_id: uuid.UUID, ctx: Ctx, platform: PlatformDep, full_name: bool = False) -> Response:
    """The order's tube labels (rejected tubes left out) on an A4 sheet: initials and birth date,
    or the full name when ``full_name=true``."""
    labels = platform.orders.labels(ctx, order_id, full_name=full_name)
    if not labels:
        raise Conflict("this order has no tube to label")
    return pdf_response(render_labels_pdf(labels), f"labels-{labels[0].accession}.pdf")
