"""An analyzer's host query: which tests are still to run on the tube it holds, by its barcode.

A read of the lab's worklist for one tube, for the interface account that asks
(``worklist.query``, an interface's only read): the tube found by its blind index, its order items
that wait for a result (not yet entered, not calculated), each test named by the instrument's own
code where the lab mapped one for this interface (interop/instrument_codes.py), else the
catalogue's. Restricted tests are included: the instrument measures them too, as it enters them.

The minimum leaves: the patient's labvault id (what the analyzer sends back in P-3, never a name
or a NIR), the tube, its specimen type, the order's priority, the test codes. A tube of another lab,
an unknown barcode, a tube not yet received or rejected, or one with nothing left to run all answer
the same ``None``: the analyzer learns nothing it did not hold. Every query is audited, naming the
patient when a tube was found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from labvault.errors import InvalidInput
from labvault.interop.instrument_codes import instrument_codes
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.workflow.base import WorkflowService, sees_restricted
from labvault.workflow.models import Order, OrderItem, Specimen
from labvault.workflow.orders import specimen_record
from labvault.workflow.specimen_codec import barcode_index
from labvault.workflow.specimens import clean_barcode

WAITING = "pending"  # an order item with no result yet


@dataclass(frozen=True)
class TubeWork:
    """What an analyzer is told about one tube."""

    patient_id: uuid.UUID
    barcode: str
    specimen: str  # the specimen type (serum, whole blood...)
    urgent: bool
    codes: tuple[str, ...]  # the tests to run, in the instrument's own codes where mapped


class WorklistQuery(WorkflowService):
    def tube(self, ctx: AccessContext, barcode: str, channel: str) -> TubeWork | None:
        """The tests still to run on the tube ``barcode`` of the caller's lab, or None (no such
        tube here, not received, or nothing left to run). Audited either way."""
        try:
            cleaned = clean_barcode("barcode", barcode)
        except InvalidInput:
            cleaned = None
        with self._unit(ctx, Permission.WORKLIST_QUERY) as unit:
            row = None
            if cleaned is not None:
                row = unit.session.scalar(
                    select(Specimen).where(Specimen.barcode_bidx == barcode_index(unit.keys, cleaned))
                )
                if row is not None and specimen_record(unit, row).barcode != cleaned:
                    row = None  # a blind-index collision: another tube
            if row is None or row.status != "received":
                detail: dict[str, object] = {"channel": channel, "found": False}
                audit.append(unit.session, ctx, AuditRecord("worklist.query", "specimen", None, detail))
                return None
            order = unit.session.get_one(Order, row.order_id)
            restricted = sees_restricted(ctx, Permission.WORKLIST_QUERY)
            items = unit.session.scalars(
                select(OrderItem)
                .where(OrderItem.specimen_id == row.id, OrderItem.status == WAITING)
                .order_by(OrderItem.position)
            ).all()
            own = instrument_codes(unit.session, ctx.actor_id) if ctx.actor_id else {}
            theirs: dict[str, str] = {}
            for code, test in sorted(own.items()):
                theirs.setdefault(test, code)  # several codes for one test: the first, always the same
            codes = tuple(
                theirs.get(item.test_code, item.test_code)
                for item in items
                if not item.calculated and (restricted or not item.restricted)
            )
            detail = {"channel": channel, "found": True, "order": str(order.id), "tests": len(codes)}
            audit.append(
                unit.session,
                ctx,
                AuditRecord("worklist.query", "specimen", str(row.id), detail, patient_id=order.patient_id),
            )
            if not codes:
                return None
            return TubeWork(order.patient_id, cleaned or "", row.specimen, bool(order.urgent), codes)
