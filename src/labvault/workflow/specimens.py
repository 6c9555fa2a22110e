"""Tubes at the bench: collection, reception by barcode scan, and rejection with a reason."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from labvault.errors import Conflict, InvalidInput, NotFound
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.workflow.base import Unit, WorkflowService
from labvault.workflow.loading import patients_of_orders
from labvault.workflow.models import OrderItem, Specimen
from labvault.workflow.order_data import SpecimenRecord
from labvault.workflow.orders import new_specimen, specimen_record
from labvault.workflow.specimen_codec import barcode_index, seal_rejection_comment

OBJECT = "specimen"
REJECTION_REASONS = ("haemolysed", "insufficient", "wrong_tube", "clotted", "unlabelled", "too_old", "other")
MAX_BARCODE = 32


def clean_barcode(field: str, barcode: str) -> str:
    """A scanned barcode without surrounding blanks; ``field`` names it in the refusal."""
    cleaned = barcode.strip()
    if not cleaned or len(cleaned) > MAX_BARCODE or not cleaned.isprintable():
        raise InvalidInput(field, f"must be 1 to {MAX_BARCODE} printable characters")
    return cleaned


def find_by_barcode(unit: Unit, barcode: str) -> Specimen:
    cleaned = clean_barcode("barcode", barcode)
    index = barcode_index(unit.keys, cleaned)
    row = unit.session.scalar(select(Specimen).where(Specimen.barcode_bidx == index))
    if row is None or specimen_record(unit, row).barcode != cleaned:
        raise NotFound("no specimen with this barcode in this laboratory")
    return row


class SpecimenService(WorkflowService):
    def collect(
        self, ctx: AccessContext, barcode: str, collected_at: dt.datetime | None = None
    ) -> SpecimenRecord:
        """The tube was drawn: when (default now) and by whom (the caller)."""
        at = collected_at or utcnow()
        if at.tzinfo is None:
            raise InvalidInput("collected_at", "must carry a time zone")
        if at > utcnow() + dt.timedelta(minutes=5):
            raise InvalidInput("collected_at", "is in the future")
        with self._unit(ctx, Permission.SPECIMEN_HANDLE) as unit:
            audit.lock_chain(
                unit.session, ctx
            )  # no result entered from (or second rejection of) it meanwhile
            row = find_by_barcode(unit, barcode)
            if row.status != "awaited":
                raise Conflict(f"specimen already {row.status}")
            row.status, row.collected_at, row.collected_by = "collected", at, ctx.actor_id
            return self._done(unit, ctx, row, "specimen.collect")

    def receive(self, ctx: AccessContext, barcode: str) -> SpecimenRecord:
        """Scanned at reception: its tests join the bench worklists."""
        with self._unit(ctx, Permission.SPECIMEN_HANDLE) as unit:
            audit.lock_chain(
                unit.session, ctx
            )  # no result entered from (or second rejection of) it meanwhile
            row = find_by_barcode(unit, barcode)
            if row.status not in ("awaited", "collected"):
                raise Conflict(f"specimen already {row.status}")
            now = utcnow()
            if row.collected_at is None:
                row.collected_at, row.collected_by = now, None
            row.status, row.received_at, row.received_by = "received", now, ctx.actor_id
            return self._done(unit, ctx, row, "specimen.receive")

    def reject(
        self, ctx: AccessContext, barcode: str, reason: str, comment: str | None = None
    ) -> SpecimenRecord:
        """Not analysable (haemolysed, insufficient, wrong tube...): a new tube is awaited for its
        tests, which stay pending; the rejected one keeps its reason for the non-conformity log."""
        if reason not in REJECTION_REASONS:
            raise InvalidInput("reason", f"must be one of {', '.join(REJECTION_REASONS)}")
        if comment is not None and len(comment) > 500:
            raise InvalidInput("comment", "must be at most 500 characters")
        with self._unit(ctx, Permission.SPECIMEN_HANDLE) as unit:
            audit.lock_chain(
                unit.session, ctx
            )  # no result entered from (or second rejection of) it meanwhile
            row = find_by_barcode(unit, barcode)
            if row.status == "rejected":
                raise Conflict("specimen already rejected")
            items = unit.session.scalars(select(OrderItem).where(OrderItem.specimen_id == row.id)).all()
            if any(item.status != "pending" for item in items):
                raise Conflict("results were already entered from this specimen; correct them instead")
            row.status, row.rejected_at, row.rejected_by, row.rejection_reason = (
                "rejected",
                utcnow(),
                ctx.actor_id,
                reason,
            )
            cleaned = " ".join(comment.split()) if comment else None
            row.rejection_comment_enc = seal_rejection_comment(unit.keys, row.id, cleaned or None)
            replacement = self._replacement(unit, row)
            unit.session.flush()  # the new tube exists before its items point at it
            for item in items:
                item.specimen_id = replacement.id
            return self._done(
                unit, ctx, row, "specimen.reject", {"reason": reason, "replacement": str(replacement.id)}
            )

    def _replacement(self, unit: Unit, rejected: Specimen) -> Specimen:
        return new_specimen(unit, rejected.order_id, rejected.tube, rejected.specimen)

    def get(self, ctx: AccessContext, barcode: str) -> SpecimenRecord:
        with self._unit(ctx, Permission.SPECIMEN_HANDLE) as unit:
            row = find_by_barcode(unit, barcode)
            return self._done(unit, ctx, row, "specimen.read")

    def _done(
        self, unit: Unit, ctx: AccessContext, row: Specimen, action: str, detail: dict[str, str] | None = None
    ) -> SpecimenRecord:
        unit.session.flush()
        audit.append(
            unit.session,
            ctx,
            AuditRecord(
                action,
                OBJECT,
                str(row.id),
                {"order": str(row.order_id), **(detail or {})},
                patient_id=patients_of_orders(unit, [row.order_id]).get(row.order_id),
            ),
        )
        return specimen_record(unit, row)
