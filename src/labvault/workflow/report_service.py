"""Released reports: built from validated results only, rendered to PDF, stored encrypted, and
regenerated from the data on demand (the stored copy must match byte for byte)."""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from labvault.catalog.model import Sex
from labvault.catalog.ranges import age_in_days, select_range
from labvault.catalog.service import CatalogService
from labvault.errors import Conflict, Forbidden, NotFound
from labvault.identity import patient_codec
from labvault.identity.models import Lab, Patient, Physician, User
from labvault.identity.patient_data import PatientData
from labvault.identity.physician_codec import open_physician
from labvault.identity.user_codec import open_full_name
from labvault.keys.store import KeyStore
from labvault.reports.render import render_history_pdf, render_report_pdf
from labvault.reports.view import (
    HistorySeries,
    HistoryView,
    LabHeader,
    PatientBlock,
    PrescriberBlock,
    PreviousValue,
    ReportView,
    ResultLine,
    TrendPoint,
)
from labvault.security import audit, policy
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.security.policy import Relationship
from labvault.store.base import utcnow
from labvault.store.bound_links import check_columns, sealed_columns
from labvault.store.database import Transactions
from labvault.workflow import previous_values
from labvault.workflow.base import (
    Unit,
    WorkflowService,
    authorize_order,
    list_relationship,
    own_orders_only,
    unlock_restricted,
)
from labvault.workflow.loading import patients_of_orders
from labvault.workflow.models import Order, OrderItem, Report, Result, Specimen
from labvault.workflow.order_codec import open_prescribed_on
from labvault.workflow.orders import load_order
from labvault.workflow.report_codec import open_context, open_pdf, seal_context, seal_pdf
from labvault.workflow.result_codec import open_correction_reason, open_value, summarise
from labvault.workflow.result_values import reference_text, stored_number

OBJECT = "report"


@dataclass(frozen=True)
class ReportInfo:
    id: uuid.UUID
    order_id: uuid.UUID
    version: int
    kind: str
    restricted: bool
    released_at: dt.datetime
    results: int


def _info(row: Report) -> ReportInfo:
    return ReportInfo(
        row.id, row.order_id, row.version, row.kind, row.restricted, row.released_at, len(row.result_ids)
    )


def patient_block(data: PatientData) -> PatientBlock:
    name = data.birth_name.upper()
    if data.used_name and data.used_name != data.birth_name:
        born = {"F": "née", "M": "né"}.get(data.sex, "né(e)")
        name = f"{data.used_name.upper()} ({born} {data.birth_name.upper()})"
    return PatientBlock(f"{name} {data.first_names}", data.sex, data.birth_date, data.nir)


@dataclass(frozen=True)
class ReleasedReport:
    view: ReportView
    patient: PatientData
    patient_id: uuid.UUID
    accession: str


@dataclass(frozen=True)
class ReportRead:
    """A released report as a channel shows it (FHIR's DiagnosticReport): its order and patient,
    the items whose results it holds, and its PDF when asked for."""

    info: ReportInfo
    patient_id: uuid.UUID
    accession: str
    item_ids: tuple[uuid.UUID, ...]
    pdf: bytes | None = None


# Run in a release's own transaction once the report is stored: (unit, releaser, order, the view).
ReleaseHook = Callable[[Unit, AccessContext, Order, ReportView], None]


class ReportService(WorkflowService):
    def __init__(self, db: Transactions, keys: KeyStore, catalogs: CatalogService) -> None:
        super().__init__(db, keys, catalogs)
        self.released: list[ReleaseHook] = []  # the platform adds the outbound results' (interop/)

    def release(self, ctx: AccessContext, order_id: uuid.UUID) -> ReportInfo:
        """Sign out what is validated: a partial report while tests are pending, final when all are.
        Refused when nothing is biologically validated or nothing changed since the last report.

        The PDF (a quarter of a second or more) is laid out between two short transactions, so it
        holds no write lock (SQLite's is the whole database's); the second one checks that nothing
        changed meanwhile, then stores the report and its audit event together."""
        with self._unit(ctx, Permission.REPORT_RELEASE) as unit:
            planned = self._plan(unit, ctx, order_id)
            order, items = load_order(unit, order_id), _items(unit, order_id)
            context = self._context(unit, order, items, planned)
            view = self._view(unit, order, items, planned, context)
        pdf = render_report_pdf(view)
        with self._unit(ctx, Permission.REPORT_RELEASE) as unit:
            audit.lock_chain(unit.session, ctx)
            row = self._plan(unit, ctx, order_id)
            if (row.version, row.kind, row.result_ids) != (planned.version, planned.kind, planned.result_ids):
                raise Conflict("the order changed while its report was being prepared: release it again")
            row.released_at = planned.released_at
            row.pdf_enc = seal_pdf(unit.keys, row.id, pdf)
            row.context_enc = seal_context(unit.keys, row.id, context)
            unit.session.add(row)
            unit.session.flush()
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "report.release",
                    OBJECT,
                    str(row.id),
                    {
                        "order": str(order_id),
                        "version": row.version,
                        "kind": row.kind,
                        "results": len(row.result_ids),
                    },
                    patient_id=patients_of_orders(unit, [order_id]).get(order_id),
                ),
            )
            for hook in self.released:  # e.g. the outbound results (interop/outbox.py): same transaction
                hook(unit, ctx, load_order(unit, order_id), view)
            return _info(row)

    def _plan(self, unit: Unit, ctx: AccessContext, order_id: uuid.UUID) -> Report:
        """The report row a release would add now (not added to the session), or the refusal."""
        order = load_order(unit, order_id)
        items = _items(unit, order.id)
        validated = [i for i in items if i.status == "validated" and i.current_result_id]
        if not validated:
            raise Conflict("no biologically validated result on this order: a report cannot be released")
        awaited = [i for i in items if i.status != "validated" and not _uncomputable(i)]
        kind = "partial" if awaited else "final"
        result_ids = sorted(str(i.current_result_id) for i in validated)
        latest = unit.session.scalar(
            select(Report).where(Report.order_id == order.id).order_by(Report.version.desc()).limit(1)
        )
        if latest is not None and latest.kind == kind and sorted(latest.result_ids) == result_ids:
            raise Conflict(f"nothing changed since report version {latest.version}")
        row = Report(id=uuid.uuid4(), lab_id=unit.lab_id, order_id=order.id, released_by=ctx.actor_id)
        row.version = (latest.version + 1) if latest is not None else 1
        row.kind = kind
        row.result_ids = result_ids
        row.restricted = any(i.restricted for i in validated)
        row.released_at = utcnow().replace(microsecond=0)
        return row

    def list(self, ctx: AccessContext, order_id: uuid.UUID) -> list[ReportInfo]:
        """The released versions of an order's report (a prescriber: of their own orders)."""
        with self._read(ctx, Permission.REPORT_READ) as unit:
            order = load_order(unit, order_id)
            authorize_order(ctx, Permission.REPORT_READ, order)
            rows = unit.session.scalars(
                select(Report).where(Report.order_id == order.id).order_by(Report.version)
            ).all()
            audit.append(
                unit.session,
                ctx,
                AuditRecord("report.list", "order", str(order.id), patient_id=order.patient_id),
            )
            return [_info(r) for r in rows]

    def pdf(self, ctx: AccessContext, order_id: uuid.UUID, version: int | None = None) -> bytes:
        """The stored PDF as released. One holding a restricted result is for biologists and the
        order's prescriber, or for someone with an open break-the-glass override for the patient."""
        with self._read(ctx, Permission.REPORT_READ) as unit:
            order, row = self._readable(unit, ctx, order_id, version)
            patient_id = order.patient_id
            pdf = open_pdf(unit.keys, row)
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "report.read", OBJECT, str(row.id), {"version": row.version}, patient_id=patient_id
                ),
            )
            return pdf or b""

    def for_patient(self, ctx: AccessContext, patient_id: uuid.UUID) -> Sequence[ReportRead]:
        """The patient's released reports this caller may read, newest first, without their PDFs.
        One holding a restricted result is listed only to who may open it (:meth:`pdf`'s rule),
        else left out as if absent; a prescriber gets their own orders' reports."""
        with self._read(ctx, Permission.REPORT_READ) as unit:
            if unit.session.get(Patient, patient_id) is None:
                raise NotFound(f"no patient {patient_id} in this laboratory")
            query = own_orders_only(ctx, select(Order).where(Order.patient_id == patient_id))
            orders = {order.id: order for order in unit.session.scalars(query.limit(200))}
            if not orders:
                policy.enforce(ctx, Permission.REPORT_READ, relationship=Relationship.NONE)
            rows = unit.session.scalars(
                select(Report)
                .where(Report.order_id.in_(list(orders)))
                .order_by(Report.released_at.desc(), Report.version.desc())
            ).all()
            shown: builtins.list[ReportRead] = []
            unlocked: bool | None = None  # decided (and an override's use audited) once, if needed
            for row in rows:
                if row.restricted:
                    if unlocked is None:
                        unlocked = unlock_restricted(
                            unit,
                            ctx,
                            Permission.REPORT_READ,
                            patient_id,
                            "patient",
                            patient_id,
                            list_relationship(ctx),
                        )
                    if not unlocked:
                        continue
                shown.append(self._report_read(unit, orders[row.order_id], row, None))
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "report.list", "patient", str(patient_id), {"reports": len(shown)}, patient_id=patient_id
                ),
            )
            return shown

    def read(self, ctx: AccessContext, report_id: uuid.UUID, *, with_pdf: bool = False) -> ReportRead:
        """One released report by id, with its PDF if ``with_pdf``. One holding a restricted result
        the caller may not open reads as absent (NotFound), like a report that does not exist."""
        with self._read(ctx, Permission.REPORT_READ) as unit:
            absent = NotFound(f"no report {report_id} in this laboratory")
            row = unit.session.get(Report, report_id)
            if row is None:
                raise absent
            order = load_order(unit, row.order_id)
            relationship = authorize_order(ctx, Permission.REPORT_READ, order)
            if row.restricted and not unlock_restricted(
                unit, ctx, Permission.REPORT_READ, order.patient_id, OBJECT, row.id, relationship
            ):
                raise absent
            pdf = (open_pdf(unit.keys, row) or b"") if with_pdf else None
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "report.read",
                    OBJECT,
                    str(row.id),
                    {"version": row.version, "pdf": with_pdf},
                    patient_id=order.patient_id,
                ),
            )
            return self._report_read(unit, order, row, pdf)

    def _report_read(self, unit: Unit, order: Order, row: Report, pdf: bytes | None) -> ReportRead:
        ids = [uuid.UUID(i) for i in row.result_ids]
        items = (
            unit.session.scalars(select(Result.order_item_id).where(Result.id.in_(ids))).all() if ids else []
        )
        return ReportRead(_info(row), order.patient_id, order.accession, tuple(sorted(set(items))), pdf)

    def for_export(
        self, ctx: AccessContext, order_id: uuid.UUID, action: str, version: int | None = None
    ) -> ReleasedReport:
        """A released report's content (its view, the patient's identity, the order's accession),
        for an export in another format (interop/hprim.py), decided as :meth:`pdf` and audited as
        ``action`` with its patient."""
        with self._unit(ctx, Permission.REPORT_READ) as unit:
            order, row = self._readable(unit, ctx, order_id, version)
            view = self._view(unit, order, _items(unit, order.id), row, open_context(unit.keys, row))
            patient = patient_codec.decode(unit.keys, unit.session.get_one(Patient, order.patient_id)).data
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    action, OBJECT, str(row.id), {"version": row.version}, patient_id=order.patient_id
                ),
            )
            return ReleasedReport(view, patient, order.patient_id, order.accession)

    def _readable(
        self, unit: Unit, ctx: AccessContext, order_id: uuid.UUID, version: int | None
    ) -> tuple[Order, Report]:
        """The order and its released report (the latest, or ``version``) once ``ctx`` may read
        it: one holding a restricted result is for biologists and the order's prescriber, or for
        someone with an open break-the-glass override for the patient."""
        order = load_order(unit, order_id)
        relationship = authorize_order(ctx, Permission.REPORT_READ, order)
        row = self._report(unit, order_id, version)
        if row.restricted and not unlock_restricted(
            unit, ctx, Permission.REPORT_READ, order.patient_id, OBJECT, row.id, relationship
        ):
            raise Forbidden(
                "this report holds a restricted result: biologists only, or break the glass "
                "(POST /api/v1/break-glass)"
            )
        return order, row

    def regenerate(
        self, ctx: AccessContext, order_id: uuid.UUID, version: int | None = None
    ) -> tuple[bytes, bool]:
        """Render a released report again from the stored data; True when it matches the stored PDF."""
        with self._unit(ctx, Permission.REPORT_RELEASE) as unit:
            row = self._report(unit, order_id, version)
            order = load_order(unit, order_id)
            context = open_context(unit.keys, row)
            pdf = render_report_pdf(self._view(unit, order, _items(unit, order.id), row, context))
            stored = open_pdf(unit.keys, row)
            audit.append(
                unit.session,
                ctx,
                AuditRecord("report.regenerate", OBJECT, str(row.id), patient_id=order.patient_id),
            )
            return pdf, pdf == stored

    def _report(self, unit: Unit, order_id: uuid.UUID, version: int | None) -> Report:
        order = load_order(unit, order_id)
        query = select(Report).where(Report.order_id == order.id)
        query = (
            query.where(Report.version == version)
            if version is not None
            else query.order_by(Report.version.desc())
        )
        row = unit.session.scalar(query.limit(1))
        if row is None:
            raise NotFound("no released report for this order")
        return row

    def _shown(self, unit: Unit, report: Report) -> dict[uuid.UUID, Result]:
        """The result versions the report names, by order item."""
        ids = [uuid.UUID(i) for i in report.result_ids]
        return {r.order_item_id: r for r in unit.session.scalars(select(Result).where(Result.id.in_(ids)))}

    def _context(
        self, unit: Unit, order: Order, items: Sequence[OrderItem], report: Report
    ) -> dict[str, Any]:
        """What the report shows besides its results: lab, patient, prescriber, signatories, test
        names. Frozen at release (stored encrypted with the report), so that a later change of name
        or catalogue does not make the regenerated PDF differ: only the data it certifies can."""
        shown = self._shown(unit, report)
        patient = patient_block(
            patient_codec.decode(unit.keys, unit.session.get_one(Patient, order.patient_id)).data
        )
        prescriber = _prescriber(unit, order.prescriber_id)
        lab = _lab_header(unit)
        signatories = {r.bio_validated_by for r in shown.values() if r.bio_validated_by is not None}
        tests = {}
        for item in items:
            test = unit.catalog.get(item.test_code)
            tests[item.test_code] = (
                [test.section, test.name_fr, test.unit] if test else [item.section, item.test_code, None]
            )
        return {
            "lab": {"name": lab.name, "finess": lab.finess, "code": lab.code, "timezone": lab.timezone},
            "patient": {
                "full_name": patient.full_name,
                "sex": patient.sex,
                "birth_date": patient.birth_date.isoformat(),
                "nir": patient.nir,
            },
            "prescriber": {"name": prescriber.name, "rpps": prescriber.rpps} if prescriber else None,
            "staff": {str(user_id): _staff_name(unit, user_id) for user_id in sorted(signatories, key=str)},
            "tests": tests,
        }

    def _view(
        self, unit: Unit, order: Order, items: Sequence[OrderItem], report: Report, context: dict[str, Any]
    ) -> ReportView:
        """The PDF's content: the result rows the report names, read now, and its frozen context."""
        keys = unit.keys
        by_item = self._shown(unit, report)
        staff: dict[str, str] = context["staff"]
        validators: dict[str, str] = {}
        lines: list[ResultLine] = []
        for item in items:
            if item.restricted and not report.restricted and item.id not in by_item:
                continue
            section, name, unit_code = context["tests"][item.test_code]
            test = unit.catalog.get(item.test_code)
            row = by_item.get(item.id)
            if row is None and item.calculated:
                continue  # not computable (a child's eGFR, LDL with high TG): nothing to print
            if row is None:
                lines.append(
                    ResultLine(section, item.test_code, name, None, unit_code, None, None, None, None, None)
                )
                continue
            summary = summarise(unit, row, test)
            signed_by = staff.get(str(row.bio_validated_by)) if row.bio_validated_by else None
            if signed_by is not None:
                validators.setdefault(str(row.bio_validated_by), signed_by)
            previous = summary.previous
            if item.restricted and not previous_values.same_prescriber(unit, previous, order.prescriber_id):
                previous = None  # a restricted result is its own prescriber's: not on another's report
            interpretation = {"range": list(summary.reference) if summary.reference else None}
            lines.append(
                ResultLine(
                    section=section,
                    test_code=item.test_code,
                    test_name=name,
                    value=summary.value,
                    unit=summary.unit,
                    reference=reference_text(interpretation, test),
                    flag=None if summary.flag == "N" else summary.flag,
                    previous=PreviousValue(previous["value"], dt.date.fromisoformat(previous["date"]))
                    if previous
                    else None,
                    comment=summary.comment,
                    validated_by=signed_by,
                    version=row.version,
                    correction_reason=open_correction_reason(keys, row),
                )
            )
        lab, person, doctor = context["lab"], context["patient"], context["prescriber"]
        return ReportView(
            lab=LabHeader(lab["name"], lab["finess"], lab["code"], lab["timezone"]),
            patient=PatientBlock(
                person["full_name"], person["sex"], dt.date.fromisoformat(person["birth_date"]), person["nir"]
            ),
            prescriber=PrescriberBlock(doctor["name"], doctor["rpps"]) if doctor else None,
            accession=order.accession,
            prescribed_on=open_prescribed_on(keys, order),
            collected_at=_collected_at(unit, [i for i in items if i.id in by_item]),
            issued_at=report.released_at,
            kind="final" if report.kind == "final" else "partial",
            version=report.version,
            lines=tuple(lines),
            validators=tuple(validators.values()),
        )

    # --- cumulative history -------------------------------------------------------------------

    def history(self, ctx: AccessContext, patient_id: uuid.UUID) -> HistoryView:
        """A patient's validated numeric results over time, one series per test (restricted tests
        only for biologists, or through the caller's open break-the-glass override). A prescriber
        gets the results of their own orders only (theirs restricted included), and a 403 for a
        patient with none."""
        with self._read(ctx, Permission.RESULT_READ) as unit:
            view = self._history(unit, ctx, patient_id)
            audit.append(
                unit.session,
                ctx,
                AuditRecord("result.cumulative", "patient", str(patient_id), patient_id=patient_id),
            )
            return view

    def history_pdf(self, ctx: AccessContext, patient_id: uuid.UUID) -> bytes:
        return render_history_pdf(self.history(ctx, patient_id))

    def _history(self, unit: Unit, ctx: AccessContext, patient_id: uuid.UUID) -> HistoryView:
        session, keys, catalog = unit.session, unit.keys, unit.catalog
        patient_row = session.get(Patient, patient_id)
        if patient_row is None:
            raise NotFound(f"no patient {patient_id} in this laboratory")
        # The tie is checked like every link it reads: a moved prescriber link opens no identity.
        tie = own_orders_only(ctx, select(*sealed_columns(Order)).where(Order.patient_id == patient_id))
        ties = session.execute(tie.limit(1)).all()
        check_columns(unit.keys, Order, ties)
        if not ties:
            # Staff get an empty history; a prescriber with no order of this patient, the refusal.
            policy.enforce(ctx, Permission.RESULT_READ, relationship=Relationship.NONE)
        query = own_orders_only(
            ctx,
            select(Result, OrderItem.test_code, Order.created_at)
            .add_columns(*sealed_columns(OrderItem), *sealed_columns(Order))
            .join(OrderItem, OrderItem.id == Result.order_item_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.patient_id == patient_id, Result.status == "validated")
            .order_by(Order.created_at),
        )
        if not unlock_restricted(
            unit, ctx, Permission.RESULT_READ, patient_id, "patient", patient_id, list_relationship(ctx)
        ):
            query = query.where(OrderItem.restricted.is_(False))
        points: dict[str, list[TrendPoint]] = {}
        rows = session.execute(query.limit(5000)).all()
        for model in (OrderItem, Order):  # the results themselves are checked as they load
            check_columns(keys, model, rows)
        for result, code, created_at, *_ in rows:
            test = catalog.get(code)
            if test is None or test.result_type != "numeric":
                continue
            text = open_value(keys, result)
            number = stored_number(text)  # None: not a finite number (entered before the strict grammar)
            if number is not None:
                points.setdefault(code, []).append(TrendPoint(created_at.date(), number))
        data = patient_codec.decode(keys, patient_row).data
        sex: Sex | None = data.sex if data.sex in ("M", "F") else None  # type: ignore[assignment]
        today = utcnow()
        age = age_in_days(data.birth_date, today) if data.birth_date <= today.date() else 0
        series = []
        for code, values in points.items():
            test = catalog.test(code)
            chosen = select_range(test, sex, age)  # today's range: the band the chart is read against
            series.append(
                HistorySeries(
                    code,
                    test.name_fr,
                    test.unit,
                    chosen.low if chosen else None,
                    chosen.high if chosen else None,
                    tuple(values),
                )
            )
        return HistoryView(
            _lab_header(unit), patient_block(data), utcnow().replace(microsecond=0), tuple(series)
        )


def _uncomputable(item: OrderItem) -> bool:
    """A calculated test with no result: its inputs did not allow it (a child's eGFR, LDL with high
    TG), so it never will; it must not keep the report partial forever."""
    return item.calculated and item.current_result_id is None


def _items(unit: Unit, order_id: uuid.UUID) -> list[OrderItem]:
    return list(
        unit.session.scalars(
            select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.position)
        )
    )


def _collected_at(unit: Unit, shown: Sequence[OrderItem]) -> dt.datetime | None:
    """When the first tube behind the shown results was drawn. Only those tubes: a tube rejected
    after the release (for a test still pending) must not change a regenerated report."""
    tubes = list({i.specimen_id for i in shown if i.specimen_id is not None})
    if not tubes:
        return None
    return unit.session.scalar(select(func.min(Specimen.collected_at)).where(Specimen.id.in_(tubes)))


def _lab_header(unit: Unit) -> LabHeader:
    lab = unit.session.get_one(Lab, unit.lab_id)
    return LabHeader(lab.name, lab.finess, lab.code)


def _staff_name(unit: Unit, user_id: uuid.UUID) -> str:
    user = unit.session.get(User, user_id)
    if user is None:
        return "?"
    return open_full_name(unit.keys, user) or user.username


def _prescriber(unit: Unit, physician_id: uuid.UUID | None) -> PrescriberBlock | None:
    if physician_id is None:
        return None
    row = unit.session.get(Physician, physician_id)
    if row is None:
        return None
    clear = open_physician(unit.keys, row, ("rpps", "family_name", "given_names"))
    return PrescriberBlock(
        f"Dr {(clear['family_name'] or '').upper()} {clear['given_names'] or ''}", clear["rpps"] or ""
    )
