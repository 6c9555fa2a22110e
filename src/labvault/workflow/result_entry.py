"""Result entry, single or batch: each entry a new version (the previous one kept, superseded),
flagged against its test, compared with the patient's previous result; then the calculated tests
of the orders touched are recomputed.

A batch is one transaction: every entry is checked first, and one refused entry (named by its
position) refuses the batch, so an import never half-lands.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from labvault.catalog.calculations import compute
from labvault.catalog.model import PatientInfo, Sex, TestDefinition
from labvault.catalog.ranges import age_in_days
from labvault.errors import InvalidInput, UnknownId
from labvault.identity import patient_codec
from labvault.identity.models import Patient
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.bound_links import check_columns, sealed_columns
from labvault.store.database import prefer_custom_plans
from labvault.workflow.base import NO_ITEM, Unit, WorkflowService, refuse_unseen_item, sees_restricted
from labvault.workflow.loading import chunks, load_by_id, patients_of_items
from labvault.workflow.models import Order, OrderItem, Result, Specimen
from labvault.workflow.order_data import ResultSummary
from labvault.workflow.result_codec import OBJECT, open_value, open_value_of, seal_result, summarise
from labvault.workflow.result_values import Previous, clean_comment, interpret, parse_number


@dataclass(frozen=True)
class ResultEntry:
    """One typed-in (or imported) result for one order item."""

    item_id: uuid.UUID
    value: str
    comment: str | None = None
    correction_reason: str | None = None  # required to change a biologically validated result


@dataclass
class _Context:
    """What interpreting one order's results needs, decrypted once per batch."""

    order: Order
    sex: Sex | None
    birth_date: dt.date
    sampled_on: dt.date


class PreviousResults:
    """Each patient's validated results per test, from which the one just before a given order is
    picked: an order entered late must not be compared with a later order's result. Only the
    chosen one is decrypted."""

    def __init__(self, unit: Unit) -> None:
        self._unit = unit
        self._by_key: dict[tuple[uuid.UUID, str], list[tuple[dt.datetime, uuid.UUID, bytes | None]]] = {}

    def add(
        self,
        patient_id: uuid.UUID,
        code: str,
        ordered_at: dt.datetime,
        result_id: uuid.UUID,
        value: bytes | None,
    ) -> None:
        self._by_key.setdefault((patient_id, code), []).append((ordered_at, result_id, value))

    def before(self, order: Order, code: str) -> Previous | None:
        earlier = [c for c in self._by_key.get((order.patient_id, code), []) if c[0] < order.created_at]
        if not earlier:
            return None
        ordered_at, result_id, sealed = max(earlier, key=lambda candidate: candidate[0])
        value = open_value_of(self._unit.keys, result_id, sealed) or ""
        return Previous(value, ordered_at.date(), str(result_id))


def _item_codes(unit: Unit, results: Sequence[Result]) -> dict[uuid.UUID, str]:
    """Test code of each result's item; every item is already in the session (no query)."""
    return {r.order_item_id: unit.session.get_one(OrderItem, r.order_item_id).test_code for r in results}


class ResultEntryService(WorkflowService):
    """Typing in (or importing) results; calculated tests follow their inputs."""

    def enter(
        self,
        ctx: AccessContext,
        entries: Sequence[ResultEntry],
        *,
        within: Callable[[Unit, list[Result]], None] | None = None,
        source: Mapping[str, str] | None = None,
    ) -> list[ResultSummary]:
        """Enter results (a new version each; the previous one is kept as superseded), flag them,
        compare with the patient's previous result, then recompute calculated tests.
        ``within``: also run in the same transaction, once the results are written (a channel
        records the message they came from: both commit, or neither does). ``source``: where the
        results came from (a channel and its message's control id), in each result's audit event."""
        if not entries:
            raise InvalidInput("entries", "at least one result is needed")
        if len(entries) > 5000:
            raise InvalidInput("entries", "at most 5000 results per batch")
        with self._unit(ctx, Permission.RESULT_ENTER) as unit:
            prefer_custom_plans(unit.session)
            audit.lock_chain(unit.session, ctx)
            items = load_by_id(unit, OrderItem, [e.item_id for e in entries])
            seen: dict[uuid.UUID, int] = {}
            for position, entry in enumerate(entries):
                where = f"entries[{position}]"
                item = items.get(entry.item_id)
                if item is None:
                    raise UnknownId(f"{where}.item_id", NO_ITEM, {"item_id": str(entry.item_id)})
                if entry.item_id in seen:
                    raise InvalidInput(f"{where}.item_id", f"same item as entries[{seen[entry.item_id]}]")
                seen[entry.item_id] = position
                self._check_enterable(unit, ctx, where, item)
            specimens = load_by_id(unit, Specimen, [i.specimen_id for i in items.values() if i.specimen_id])
            for position, entry in enumerate(entries):
                specimen = specimens.get(items[entry.item_id].specimen_id)
                if specimen is None or specimen.status != "received":
                    raise InvalidInput(f"entries[{position}].item_id", "its specimen has not been received")
            contexts = self._contexts(unit, items.values(), specimens)
            previous = self._previous(unit, contexts, items.values())
            currents = load_by_id(
                unit, Result, [i.current_result_id for i in items.values() if i.current_result_id]
            )
            created: list[Result] = []
            for position, entry in enumerate(entries):
                item = items[entry.item_id]
                created.append(
                    self._new_version(
                        unit,
                        ctx,
                        f"entries[{position}]",
                        item,
                        contexts[item.order_id],
                        entry.value,
                        entry.comment,
                        entry.correction_reason,
                        currents.get(item.current_result_id) if item.current_result_id else None,
                        previous.before(contexts[item.order_id].order, item.test_code),
                    )
                )
            calculated, withdrawn = self._calculate(unit, ctx, contexts, previous)
            created += calculated
            unit.session.flush()
            patients = patients_of_items(unit, [r.order_item_id for r in (*created, *withdrawn)])
            audit.append_many(
                unit.session,
                ctx,
                [
                    AuditRecord(
                        "result.correct" if r.supersedes_id else "result.enter",
                        OBJECT,
                        str(r.id),
                        {"item": str(r.order_item_id), "version": r.version, **(source or {})},
                        patient_id=patients.get(r.order_item_id),
                    )
                    for r in created
                ]
                + [
                    AuditRecord(
                        "result.withdraw",
                        OBJECT,
                        str(r.id),
                        {"item": str(r.order_item_id)},
                        patient_id=patients.get(r.order_item_id),
                    )
                    for r in withdrawn
                ],
            )
            if within is not None:
                within(unit, created)
            codes = _item_codes(unit, created)
            return [summarise(unit, r, unit.catalog.get(codes[r.order_item_id])) for r in created]

    def _check_enterable(self, unit: Unit, ctx: AccessContext, where: str, item: OrderItem) -> None:
        if item.restricted and not sees_restricted(ctx, Permission.RESULT_ENTER):  # answered as absent
            raise refuse_unseen_item(
                unit,
                ctx,
                item,
                UnknownId(f"{where}.item_id", NO_ITEM, {"item_id": str(item.id)}),
                where,
                "entered",
            )
        if item.calculated:
            raise InvalidInput(f"{where}.item_id", f"{item.test_code} is calculated by labvault, not entered")
        if unit.catalog.get(item.test_code) is None:
            raise InvalidInput(f"{where}.item_id", f"test {item.test_code} is not in the active catalogue")

    def _contexts(
        self, unit: Unit, items: Iterable[OrderItem], specimens: dict[uuid.UUID, Specimen]
    ) -> dict[uuid.UUID, _Context]:
        items = list(items)
        orders = load_by_id(unit, Order, [i.order_id for i in items])
        patients = load_by_id(unit, Patient, [o.patient_id for o in orders.values()])
        identities = {pid: patient_codec.decode(unit.keys, row).data for pid, row in patients.items()}
        sampled: dict[uuid.UUID, dt.datetime] = {}
        for item in items:
            specimen = specimens.get(item.specimen_id) if item.specimen_id else None
            if specimen is not None and specimen.collected_at is not None:
                sampled.setdefault(item.order_id, specimen.collected_at)
        contexts = {}
        for order_id, order in orders.items():
            person = identities[order.patient_id]
            sex: Sex | None = person.sex if person.sex in ("M", "F") else None  # type: ignore[assignment]
            on = sampled.get(order_id, order.created_at).date()
            contexts[order_id] = _Context(order, sex, person.birth_date, on)
        return contexts

    def _previous(
        self, unit: Unit, contexts: dict[uuid.UUID, _Context], items: Iterable[OrderItem]
    ) -> PreviousResults:
        """Candidate previous results: validated results of these patients' other orders."""
        patient_ids = list({c.order.patient_id for c in contexts.values()})
        codes = sorted({i.test_code for i in items} | self._calculated_codes(unit, items))
        found = PreviousResults(unit)
        for chunk in chunks(patient_ids):
            rows = unit.session.execute(
                # Plain columns, not entities: a patient followed for years has hundreds of them.
                select(Result.id, Result.value_enc, OrderItem.test_code, Order.patient_id, Order.created_at)
                .add_columns(*sealed_columns(Result), *sealed_columns(OrderItem), *sealed_columns(Order))
                .join(OrderItem, OrderItem.id == Result.order_item_id)
                .join(Order, Order.id == OrderItem.order_id)
                .where(
                    Order.patient_id.in_(chunk),
                    OrderItem.test_code.in_(codes),
                    Result.status == "validated",
                    Order.id.not_in(list(contexts)),
                )
            ).all()
            for model in (Result, OrderItem, Order):  # each link joined through is checked
                check_columns(unit.keys, model, rows)
            for result_id, value_enc, code, patient_id, created_at, *_ in rows:
                found.add(patient_id, code, created_at, result_id, value_enc)
        return found

    def _calculated_codes(self, unit: Unit, items: Iterable[OrderItem]) -> set[str]:
        orders = {i.order_id for i in items}
        if not orders:
            return set()
        return set(
            unit.session.scalars(
                select(OrderItem.test_code).where(
                    OrderItem.order_id.in_(list(orders)), OrderItem.calculated.is_(True)
                )
            )
        )

    def _new_version(
        self,
        unit: Unit,
        ctx: AccessContext,
        where: str,
        item: OrderItem,
        context: _Context,
        raw: str,
        comment: str | None,
        correction_reason: str | None,
        current: Result | None,
        previous: Previous | None,
    ) -> Result:
        test = unit.catalog.test(item.test_code)
        age = age_in_days(context.birth_date, context.sampled_on)
        interpreted = interpret(f"{where}.value", test, raw, context.sex, age, previous, context.sampled_on)
        comment = clean_comment(f"{where}.comment", comment)
        reason = clean_comment(f"{where}.correction_reason", correction_reason)
        if current is not None and current.status == "validated" and not reason:
            raise InvalidInput(
                f"{where}.correction_reason", "is required to correct a biologically validated result"
            )
        row = Result(
            id=uuid.uuid4(),
            lab_id=unit.lab_id,
            order_item_id=item.id,
            version=(current.version + 1) if current is not None else 1,
            supersedes_id=current.id if current is not None else None,
            status="entered",
            entered_by=ctx.actor_id,
            entered_at=utcnow(),
        )
        sealed = seal_result(
            unit.keys,
            row.id,
            interpreted.value,
            interpreted.flag,
            comment,
            interpreted.interpretation,
            reason,
        )
        for column, value in sealed.items():
            setattr(row, column, value)
        unit.session.add(row)
        if current is not None:
            current.status = "superseded"
        item.status = "entered"
        item.current_result_id = row.id
        return row

    def _calculate(
        self,
        unit: Unit,
        ctx: AccessContext,
        contexts: dict[uuid.UUID, _Context],
        previous: PreviousResults,
    ) -> tuple[list[Result], list[Result]]:
        """Recompute the calculated tests (eGFR, LDL) of the orders touched, from their current
        numeric inputs. One that cannot be computed (a child, high TG) stays pending, and a value computed
        from inputs since corrected is withdrawn: it would no longer be true."""
        unit.session.flush()
        created: list[Result] = []
        withdrawn: list[Result] = []
        with_calculations = set(
            unit.session.scalars(
                select(OrderItem.order_id).where(
                    OrderItem.order_id.in_(list(contexts)), OrderItem.calculated.is_(True)
                )
            )
        )
        for order_id, context in contexts.items():
            if order_id not in with_calculations:
                continue
            items = unit.session.scalars(select(OrderItem).where(OrderItem.order_id == order_id)).all()
            targets = [i for i in items if i.calculated and unit.catalog.get(i.test_code) is not None]
            if not targets:
                continue
            currents = load_by_id(unit, Result, [i.current_result_id for i in items if i.current_result_id])
            values: dict[str, float] = {}
            for item in items:
                current = currents.get(item.current_result_id) if item.current_result_id else None
                if current is None or item.calculated:
                    continue
                text = open_value(unit.keys, current)
                try:
                    values[item.test_code] = parse_number("value", text or "")
                except InvalidInput:
                    continue
            age = age_in_days(context.birth_date, context.sampled_on)
            patient = PatientInfo(context.sex, age)
            for item in targets:
                test: TestDefinition = unit.catalog.test(item.test_code)
                assert test.calculated is not None
                if not any(code in values for code in test.calculated.inputs):
                    continue
                number = compute(test, values, patient)
                current = currents.get(item.current_result_id) if item.current_result_id else None
                if number is None:
                    if current is not None:  # its inputs changed and no longer allow it (TG now high)
                        current.status = "withdrawn"
                        item.current_result_id, item.status = None, "pending"
                        withdrawn.append(current)
                    continue
                text = f"{number:.{test.decimals}f}" if test.decimals is not None else f"{number:g}"
                if current is not None and current.status != "superseded":
                    old = open_value(unit.keys, current)
                    if old == text:
                        continue
                reason = "inputs corrected" if current is not None and current.status == "validated" else None
                created.append(
                    self._new_version(
                        unit,
                        ctx,
                        f"calculated {item.test_code}",
                        item,
                        context,
                        text,
                        None,
                        reason,
                        current,
                        previous.before(context.order, item.test_code),
                    )
                )
        return created, withdrawn
