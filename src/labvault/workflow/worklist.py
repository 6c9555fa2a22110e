"""Reading results: a bench section's worklist at one stage (what waits to be entered, or to be
validated technically or biologically) and the version history of one item's result. A prescriber
reads only their own orders' items, and result values once signed; every read is audited with the
patient it shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from labvault.errors import InvalidInput, NotFound
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.workflow import previous_values
from labvault.workflow.base import (
    WorkflowService,
    authorize_order,
    list_relationship,
    own_orders_only,
    sees_restricted,
    signed_results_only,
)
from labvault.workflow.loading import patients_of_orders
from labvault.workflow.models import Order, OrderItem, Result, Specimen
from labvault.workflow.order_data import ResultSummary
from labvault.workflow.result_codec import (
    called_results,
    current_summaries,
    open_correction_reason,
    summarise,
)

STAGES = ("entry", "technical", "biological")
STAGE_STATUSES = {
    "entry": ("pending", "entered"),
    "technical": ("entered",),
    "biological": ("tech_validated",),
}
MAX_WORKLIST = 1000


@dataclass(frozen=True)
class WorklistLine:
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
    result: ResultSummary | None


class WorklistService(WorkflowService):
    """What the bench and the biologist read before acting: worklists and an item's versions."""

    def worklist(
        self, ctx: AccessContext, section: str, stage: str = "entry", *, limit: int = MAX_WORKLIST
    ) -> list[WorklistLine]:
        """Items of one bench section at one stage, urgent first then oldest first. Entry lists only
        hold tubes already received. Restricted tests appear only for biologists. A prescriber sees
        only the items of their own orders (theirs restricted included), result values once signed."""
        if stage not in STAGES:
            raise InvalidInput("stage", f"must be one of {', '.join(STAGES)}")
        if not 1 <= limit <= MAX_WORKLIST:
            raise InvalidInput("limit", f"must be 1 to {MAX_WORKLIST}")
        permission = Permission.RESULT_BIO_VALIDATE if stage == "biological" else Permission.RESULT_READ
        with self._read(ctx, permission) as unit:
            if section not in {t.section for t in unit.catalog.tests}:
                raise InvalidInput("section", "unknown section in this laboratory's catalogue")
            query = own_orders_only(
                ctx,
                select(OrderItem, Order)
                .join(Order, Order.id == OrderItem.order_id)
                .where(OrderItem.section == section, OrderItem.status.in_(STAGE_STATUSES[stage])),
            )
            if stage == "entry":  # calculated tests are never typed in: they follow their inputs
                query = query.join(Specimen, Specimen.id == OrderItem.specimen_id).where(
                    Specimen.status == "received", OrderItem.calculated.is_(False)
                )
            if not sees_restricted(ctx, relationship=list_relationship(ctx)):
                query = query.where(OrderItem.restricted.is_(False))
            query = query.order_by(Order.urgent.desc(), Order.created_at, Order.accession, OrderItem.position)
            rows = unit.session.execute(query.limit(limit)).all()
            shown_items = [item for item, _ in rows]
            if signed_results_only(ctx):
                shown_items = [item for item in shown_items if item.status == "validated"]
            summaries = previous_values.for_caller(unit, ctx, current_summaries(unit, shown_items))
            lines = []
            for item, order in rows:
                test = unit.catalog.get(item.test_code)
                lines.append(
                    WorklistLine(
                        item_id=item.id,
                        order_id=order.id,
                        accession=order.accession,
                        patient_id=order.patient_id,
                        urgent=order.urgent,
                        test_code=item.test_code,
                        test_name=test.name_fr if test else item.test_code,
                        section=item.section,
                        status=item.status,
                        calculated=item.calculated,
                        result=summaries.get(item.id),
                    )
                )
            # One event per order shown, naming its patient: a patient's access history includes the
            # worklists their results appeared on, and bulk reading through worklists is traceable.
            shown: dict[uuid.UUID, list[WorklistLine]] = {}
            for line in lines:
                shown.setdefault(line.order_id, []).append(line)
            audit.append_many(
                unit.session,
                ctx,
                [
                    AuditRecord(
                        "worklist.read",
                        "order",
                        str(order_id),
                        {
                            "patient": str(group[0].patient_id),
                            "section": section,
                            "stage": stage,
                            "items": [str(line.item_id) for line in group],
                        },
                        patient_id=group[0].patient_id,
                    )
                    for order_id, group in shown.items()
                ]
                or [AuditRecord("worklist.read", "section", section, {"stage": stage, "lines": 0})],
            )
            return lines

    def versions(self, ctx: AccessContext, item_id: uuid.UUID) -> list[tuple[ResultSummary, str | None]]:
        """Every version of an item's result, oldest first, each with its correction reason. A
        prescriber: the items of their own orders, and only the versions a biologist signed."""
        with self._read(ctx, Permission.RESULT_READ) as unit:
            item = unit.session.get(OrderItem, item_id)
            if item is None:
                raise NotFound(f"no order item {item_id} in this laboratory")
            relationship = authorize_order(
                ctx, Permission.RESULT_READ, unit.session.get_one(Order, item.order_id)
            )
            if item.restricted and not sees_restricted(ctx, relationship=relationship):
                raise NotFound(f"no order item {item_id} in this laboratory")
            query = select(Result).where(Result.order_item_id == item.id)
            if signed_results_only(ctx):
                query = query.where(Result.bio_validated_at.is_not(None))
            rows = unit.session.scalars(query.order_by(Result.version)).all()
            called = called_results(unit, [r.id for r in rows])
            test = unit.catalog.get(item.test_code)
            read = {row.id: summarise(unit, row, test, critical_called=row.id in called) for row in rows}
            summaries = previous_values.for_caller(unit, ctx, read)
            history = [
                (
                    summaries[row.id],
                    open_correction_reason(unit.keys, row),
                )
                for row in rows
            ]
            patient_id = patients_of_orders(unit, [item.order_id]).get(item.order_id)
            audit.append(
                unit.session,
                ctx,
                AuditRecord("result.history", "order_item", str(item.id), patient_id=patient_id),
            )
            return history
