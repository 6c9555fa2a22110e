"""Prescriptions: an order with its tests, its tubes (one specimen per tube type), what it bills,
and the tube labels. Clinical information and prescribed drugs are encrypted like identities."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import func, select

from labvault.errors import InvalidInput, NotFound
from labvault.identity import patient_codec
from labvault.identity.models import Patient, Physician
from labvault.identity.physician_service import physician_by_rpps
from labvault.reports.view import LabelView
from labvault.security import audit, policy
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.security.policy import Relationship
from labvault.store.base import utcnow
from labvault.store.bound_links import check_columns, sealed_columns
from labvault.workflow import previous_values
from labvault.workflow.base import (
    Unit,
    WorkflowService,
    authorize_order,
    list_relationship,
    own_orders_only,
    signed_results_only,
    unlock_restricted,
)
from labvault.workflow.models import Order, OrderItem, Report, Specimen
from labvault.workflow.order_codec import (
    open_clinical_info,
    open_drugs,
    open_fasting,
    open_prescribed_on,
    seal_order,
)
from labvault.workflow.order_data import (
    BillingAct,
    ItemRecord,
    OrderRecord,
    OrderRequest,
    SpecimenRecord,
    plan_items,
    validate_order,
)
from labvault.workflow.result_codec import current_summaries
from labvault.workflow.specimen_codec import (
    barcode_index,
    open_barcode,
    open_rejection_comment,
    seal_barcode,
    seal_rejection_comment,
)

OBJECT = "order"
BARCODE_DIGITS = 10


def new_barcode() -> str:
    """A random numeric barcode (Code 128 set C prints ten digits compactly); random, so that a
    tube's number says nothing about when or for whom it was drawn."""
    return f"{secrets.randbelow(10**BARCODE_DIGITS):0{BARCODE_DIGITS}d}"


def load_order(unit: Unit, order_id: uuid.UUID) -> Order:
    row = unit.session.get(Order, order_id)
    if row is None:
        raise NotFound(f"no order {order_id} in this laboratory")
    return row


class OrderService(WorkflowService):
    def create(self, ctx: AccessContext, request: OrderRequest) -> OrderRecord:
        """Register a prescription: items, billing, and one awaited specimen per tube type."""
        with self._unit(ctx, Permission.ORDER_WRITE) as unit:
            return self._create(unit, ctx, request)

    def create_within(
        self,
        ctx: AccessContext,
        prepare: Callable[[Unit], Sequence[OrderRequest]],
        within: Callable[[Unit, list[OrderRecord]], None],
    ) -> list[OrderRecord]:
        """Orders a channel brings, in one transaction: ``prepare`` resolves them in the unit (the
        patient found or created, the tests), each is created as :meth:`create` does, then
        ``within`` records the message they came from: all commit, or none does. An
        ``InvalidInput`` of request ``n`` names ``orders[n].<field>``."""
        with self._unit(ctx, Permission.ORDER_WRITE) as unit:
            created: list[OrderRecord] = []
            for position, request in enumerate(prepare(unit)):
                try:
                    created.append(self._create(unit, ctx, request))
                except InvalidInput as exc:
                    raise InvalidInput(f"orders[{position}].{exc.field}", exc.reason) from None
            within(unit, created)
            return created

    def _create(self, unit: Unit, ctx: AccessContext, request: OrderRequest) -> OrderRecord:
        request = validate_order(request, unit.catalog, utcnow().date())
        session = unit.session
        if session.get(Patient, request.patient_id) is None:
            raise NotFound(f"no patient {request.patient_id} in this laboratory")
        if request.prescriber_id is not None and session.get(Physician, request.prescriber_id) is None:
            raise NotFound(f"no physician {request.prescriber_id} in this laboratory")
        if request.prescriber_rpps is not None:
            prescriber = physician_by_rpps(session, unit.keys, request.prescriber_rpps)
            if prescriber is None:
                raise InvalidInput(
                    "prescriber_rpps",
                    "no physician with this RPPS in this laboratory: register them first",
                )
            request = dataclasses.replace(request, prescriber_id=prescriber.id)
        audit.lock_chain(session, ctx)  # serialises accession numbers of this lab
        planned = plan_items(request, unit.catalog)
        order = Order(id=uuid.uuid4(), lab_id=unit.lab_id, created_by=ctx.actor_id, created_at=utcnow())
        order.accession = self._next_accession(unit, order.created_at)
        order.patient_id = request.patient_id
        order.prescriber_id = request.prescriber_id
        order.urgent = request.urgent
        order.catalog_version = unit.catalog.version
        self._seal_order(unit, order, request)
        session.add(order)
        specimens: dict[str, Specimen] = {}
        for plan in planned:
            if plan.test.tube not in specimens:
                specimens[plan.test.tube] = new_specimen(unit, order.id, plan.test.tube, plan.test.specimen)
        session.flush()  # orders and specimens before the items that point at them
        for position, plan in enumerate(planned):
            test = plan.test
            specimen = specimens[test.tube]
            session.add(
                OrderItem(
                    id=uuid.uuid4(),
                    lab_id=unit.lab_id,
                    order_id=order.id,
                    test_code=test.code,
                    panel_code=plan.panel_code,
                    section=test.section,
                    tube=test.tube,
                    nabm=plan.nabm,
                    nabm_b=plan.nabm_b,
                    restricted=test.restricted,
                    calculated=test.calculated is not None,
                    position=position,
                    status="pending",
                    specimen_id=specimen.id,
                )
            )
        session.flush()
        audit.append(
            session,
            ctx,
            AuditRecord(
                "order.create",
                OBJECT,
                str(order.id),
                {"items": len(planned), "specimens": len(specimens), "patient": str(order.patient_id)},
                patient_id=order.patient_id,
            ),
        )
        return self._record(unit, ctx, order, show_restricted=True)

    def _next_accession(self, unit: Unit, at: dt.datetime) -> str:
        prefix = at.strftime("%y%m%d")
        taken = unit.session.scalar(select(func.count(Order.id)).where(Order.accession.like(f"{prefix}%")))
        return f"{prefix}{int(taken or 0) + 1:04d}"

    def _seal_order(self, unit: Unit, order: Order, request: OrderRequest) -> None:
        sealed = seal_order(
            unit.keys,
            order.id,
            prescribed_on=request.prescribed_on,
            fasting=request.fasting,
            clinical_info=request.clinical_info,
            drugs=list(request.drugs),
        )
        for column, value in sealed.items():
            setattr(order, column, value)

    # --- reads ------------------------------------------------------------------------------------

    def get(self, ctx: AccessContext, order_id: uuid.UUID) -> OrderRecord:
        """The order as this caller may see it: restricted items, and with them the order's clinical
        information and drugs, only for biologists and the order's prescriber, or through the
        caller's open break-the-glass override; result values only for roles that read results
        (a prescriber: their own orders' signed results)."""
        with self._read(ctx, Permission.ORDER_READ) as unit:
            return self._get(unit, ctx, load_order(unit, order_id))

    def get_by_item(self, ctx: AccessContext, item_id: uuid.UUID) -> OrderRecord:
        """The order holding item ``item_id``, decided and audited as :meth:`get` (for a channel
        that names results by item, FHIR). The caller checks the item is in the record: a
        restricted one it may not see is left out, so it reads as absent, never as refused."""
        with self._read(ctx, Permission.ORDER_READ) as unit:
            item = unit.session.get(OrderItem, item_id)
            if item is None:
                raise NotFound(f"no order item {item_id} in this laboratory")
            return self._get(unit, ctx, load_order(unit, item.order_id))

    def get_by_specimen(self, ctx: AccessContext, specimen_id: uuid.UUID) -> OrderRecord:
        """The order holding specimen ``specimen_id``, decided and audited as :meth:`get`."""
        with self._read(ctx, Permission.ORDER_READ) as unit:
            specimen = unit.session.get(Specimen, specimen_id)
            if specimen is None:
                raise NotFound(f"no specimen {specimen_id} in this laboratory")
            return self._get(unit, ctx, load_order(unit, specimen.order_id))

    def _get(self, unit: Unit, ctx: AccessContext, order: Order) -> OrderRecord:
        """:meth:`get` in an open read unit, once ``order`` is loaded."""
        relationship = authorize_order(ctx, Permission.ORDER_READ, order)
        # From the items as loaded (their seals checked), not an SQL filter on the flag: a
        # stored flag in a form SQL does not match (SQLite's 2) must not read as "nothing hidden".
        items = unit.session.scalars(select(OrderItem).where(OrderItem.order_id == order.id)).all()
        hides = any(item.restricted for item in items)
        # An override is only used (and audited) when there is something behind the glass.
        show = not hides or unlock_restricted(
            unit, ctx, Permission.ORDER_READ, order.patient_id, OBJECT, order.id, relationship
        )
        record = self._record(unit, ctx, order, show_restricted=show)
        audit.append(
            unit.session,
            ctx,
            AuditRecord("order.read", OBJECT, str(order.id), patient_id=order.patient_id),
        )
        return record

    def for_patient(self, ctx: AccessContext, patient_id: uuid.UUID) -> list[OrderRecord]:
        """A patient's orders, newest first (restricted items hidden as in :meth:`get`). A
        prescriber gets only the orders they prescribed, and a 403 for a patient with none."""
        with self._read(ctx, Permission.ORDER_READ) as unit:
            if unit.session.get(Patient, patient_id) is None:
                raise NotFound(f"no patient {patient_id} in this laboratory")
            query = own_orders_only(ctx, select(Order).where(Order.patient_id == patient_id))
            orders = unit.session.scalars(query.order_by(Order.created_at.desc()).limit(200)).all()
            if not orders:
                # Staff get an empty list; a prescriber with no order of this patient, the refusal.
                policy.enforce(ctx, Permission.ORDER_READ, relationship=Relationship.NONE)
            show = unlock_restricted(
                unit,
                ctx,
                Permission.ORDER_READ,
                patient_id,
                "patient",
                patient_id,
                list_relationship(ctx),
            )
            records = [self._record(unit, ctx, order, show_restricted=show) for order in orders]
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "order.list", "patient", str(patient_id), {"orders": len(records)}, patient_id=patient_id
                ),
            )
            return records

    def _record(self, unit: Unit, ctx: AccessContext, order: Order, *, show_restricted: bool) -> OrderRecord:
        keys, session = unit.keys, unit.session
        items = session.scalars(
            select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.position)
        ).all()
        visible = [item for item in items if show_restricted or not item.restricted]
        readable = [i for i in visible if i.status == "validated"] if signed_results_only(ctx) else visible
        summaries = (
            previous_values.for_caller(unit, ctx, current_summaries(unit, readable))
            if policy.role_may(ctx.role, Permission.RESULT_READ)
            else {}
        )
        item_records: list[ItemRecord] = []
        for item in visible:
            test = unit.catalog.get(item.test_code)
            item_records.append(
                ItemRecord(
                    id=item.id,
                    test_code=item.test_code,
                    test_name=test.name_fr if test else item.test_code,
                    panel_code=item.panel_code,
                    section=item.section,
                    tube=item.tube,
                    nabm=item.nabm,
                    nabm_b=item.nabm_b,
                    restricted=item.restricted,
                    calculated=item.calculated,
                    status=item.status,
                    specimen_id=item.specimen_id,
                    result=summaries.get(item.id),
                )
            )
        specimens = session.scalars(
            select(Specimen).where(Specimen.order_id == order.id).order_by(Specimen.created_at)
        ).all()
        billing = _billing(unit, visible)  # a hidden HIV test must not show up as a billed act
        # Derived data carries its source's rules: "suivi PrEP" or "Truvada" tell of the hidden HIV
        # test, so an order's clinical context is shown only to who may see its restricted tests
        # (never even decrypted otherwise). Fasting stays: a collection condition, no hint.
        withheld = len(visible) < len(items)
        report_rows = session.execute(
            select(Report.version, *sealed_columns(Report))
            .where(Report.order_id == order.id)
            .order_by(Report.version)
        ).all()
        check_columns(keys, Report, report_rows)  # a report moved onto this order is not listed
        reports = [row.version for row in report_rows]
        return OrderRecord(
            id=order.id,
            lab_id=order.lab_id,
            accession=order.accession,
            patient_id=order.patient_id,
            prescriber_id=order.prescriber_id,
            prescribed_on=open_prescribed_on(keys, order),
            urgent=order.urgent,
            fasting=open_fasting(keys, order),
            clinical_info=None if withheld else open_clinical_info(keys, order),
            drugs=() if withheld else open_drugs(keys, order),
            clinical_context_withheld=withheld,
            catalog_version=order.catalog_version,
            created_at=order.created_at,
            items=tuple(item_records),
            specimens=tuple(specimen_record(unit, s) for s in specimens),
            billing=tuple(billing),
            hidden_items=len(items) - len(visible),
            reports=tuple(reports),
        )

    # --- labels -----------------------------------------------------------------------------------

    def labels(self, ctx: AccessContext, order_id: uuid.UUID, *, full_name: bool = False) -> list[LabelView]:
        """Tube labels: initials and birth date by default, since label printers are often a shared
        queue; the full name only when the lab asks for it."""
        with self._unit(ctx, Permission.SPECIMEN_HANDLE) as unit:
            order = load_order(unit, order_id)
            patient = patient_codec.decode(unit.keys, unit.session.get_one(Patient, order.patient_id)).data
            if full_name:
                line = f"{patient.birth_name.upper()} {patient.first_names}"
            else:
                line = f"{patient.birth_name[:1].upper()}.{patient.first_names[:1].upper()}."
            line = f"{line} {patient.birth_date.strftime('%d/%m/%Y')}"
            specimens = unit.session.scalars(
                select(Specimen).where(Specimen.order_id == order.id).order_by(Specimen.created_at)
            ).all()
            labels = [
                LabelView(
                    barcode=specimen_record(unit, s).barcode,
                    accession=order.accession,
                    tube=s.tube,
                    specimen=s.specimen,
                    patient_line=line,
                    collected_on=s.collected_at.date() if s.collected_at else None,
                )
                for s in specimens
                if s.status != "rejected"
            ]
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "order.labels",
                    OBJECT,
                    str(order.id),
                    {"labels": len(labels), "full_name": full_name},
                    patient_id=order.patient_id,
                ),
            )
            return labels


def new_specimen(unit: Unit, order_id: uuid.UUID, tube: str, kind: str) -> Specimen:
    while True:
        barcode = new_barcode()
        index = barcode_index(unit.keys, barcode)
        if unit.session.scalar(select(Specimen.id).where(Specimen.barcode_bidx == index)) is None:
            break
    specimen = Specimen(id=uuid.uuid4(), lab_id=unit.lab_id, order_id=order_id, tube=tube, specimen=kind)
    specimen.barcode_bidx = index
    specimen.status = "awaited"
    specimen.barcode_enc = seal_barcode(unit.keys, specimen.id, barcode)
    specimen.rejection_comment_enc = seal_rejection_comment(unit.keys, specimen.id, None)
    unit.session.add(specimen)
    return specimen


def specimen_record(unit: Unit, row: Specimen) -> SpecimenRecord:
    keys = unit.keys
    return SpecimenRecord(
        id=row.id,
        barcode=open_barcode(keys, row) or "",
        tube=row.tube,
        specimen=row.specimen,
        status=row.status,
        collected_at=row.collected_at,
        received_at=row.received_at,
        rejection_reason=row.rejection_reason,
        rejection_comment=open_rejection_comment(keys, row),
    )


def _billing(unit: Unit, items: Sequence[OrderItem]) -> list[BillingAct]:
    """What the order bills: each panel's own NABM acts once, plus each test ordered on its own."""
    acts: list[BillingAct] = []
    panels_done: set[str] = set()
    panels = {p.code: p for p in unit.catalog.panels}
    for item in items:
        if item.panel_code and item.panel_code not in panels_done:
            panels_done.add(item.panel_code)
            panel = panels.get(item.panel_code)
            if panel is not None:
                acts.extend(BillingAct(act.code, act.b, panel.name_fr) for act in panel.nabm)
        elif item.panel_code is None and item.nabm:
            test = unit.catalog.get(item.test_code)
            acts.append(BillingAct(item.nabm, item.nabm_b, test.name_fr if test else item.test_code))
    return acts
