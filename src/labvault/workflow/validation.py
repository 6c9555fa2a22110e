"""Validation of entered results: technical (the analysis ran right), then biological (the
biologist signs). A critical value is signed only once its call to the prescriber is recorded,
which is recorded here too."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from labvault.errors import Conflict, InvalidInput, NotFound, UnknownId
from labvault.qc.holds import Candidate, held
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.workflow.base import NO_ITEM, Unit, WorkflowService, refuse_unseen_item, sees_restricted
from labvault.workflow.loading import load_by_id, patients_of_orders
from labvault.workflow.models import CriticalCall, OrderItem, Result
from labvault.workflow.result_codec import OBJECT, called_results, open_flag, seal_critical_call
from labvault.workflow.result_values import CRITICAL_FLAGS, clean_comment


class ResultValidationService(WorkflowService):
    """Technical and biological validation, and the critical-value calls the latter requires."""

    def validate_technical(self, ctx: AccessContext, item_ids: Sequence[uuid.UUID]) -> int:
        """The technician vouches the analysis ran right (controls, instrument): entered -> tech_validated."""
        return self._validate(ctx, item_ids, biological=False)

    def validate_biological(self, ctx: AccessContext, item_ids: Sequence[uuid.UUID]) -> int:
        """The biologist signs: tech_validated -> validated. A critical value needs its call to the
        prescriber recorded first; the whole batch is refused otherwise, naming the items."""
        return self._validate(ctx, item_ids, biological=True)

    def _validate(self, ctx: AccessContext, item_ids: Sequence[uuid.UUID], *, biological: bool) -> int:
        if not item_ids:
            raise InvalidInput("item_ids", "at least one item is needed")
        permission = Permission.RESULT_BIO_VALIDATE if biological else Permission.RESULT_TECH_VALIDATE
        wanted, next_status = ("tech_validated", "validated") if biological else ("entered", "tech_validated")
        with self._unit(ctx, permission) as unit:
            audit.lock_chain(unit.session, ctx)
            items = load_by_id(unit, OrderItem, item_ids)
            for position, item_id in enumerate(item_ids):
                item = items.get(item_id)
                if item is None:
                    raise UnknownId(f"item_ids[{position}]", NO_ITEM, {"item_id": str(item_id)})
                if item.restricted and not sees_restricted(ctx):  # answered as an absent item
                    where = f"item_ids[{position}]"
                    absent = UnknownId(where, NO_ITEM, {"item_id": str(item_id)})
                    raise refuse_unseen_item(unit, ctx, item, absent, where, "validated")
                if item.status != wanted:
                    raise Conflict(f"item_ids[{position}]: {item.test_code} is {item.status}, not {wanted}")
            results = load_by_id(
                unit, Result, [i.current_result_id for i in items.values() if i.current_result_id]
            )
            if biological:
                self._check_critical_calls(unit, item_ids, items, results)
            else:
                self._check_qc_holds(unit, item_ids, items, results)
            now = utcnow()
            for item in items.values():
                result = results[item.current_result_id]
                result.status = next_status
                if biological:
                    result.bio_validated_by, result.bio_validated_at = ctx.actor_id, now
                else:
                    result.tech_validated_by, result.tech_validated_at = ctx.actor_id, now
                item.status = next_status
            unit.session.flush()
            action = "result.validate_biological" if biological else "result.validate_technical"
            patients = patients_of_orders(unit, [item.order_id for item in items.values()])
            audit.append_many(
                unit.session,
                ctx,
                [
                    AuditRecord(
                        action,
                        OBJECT,
                        str(item.current_result_id),
                        {"item": str(item.id)},
                        patient_id=patients.get(item.order_id),
                    )
                    for item in items.values()
                ],
            )
            return len(items)

    def _check_critical_calls(
        self,
        unit: Unit,
        item_ids: Sequence[uuid.UUID],
        items: dict[uuid.UUID, OrderItem],
        results: dict[uuid.UUID, Result],
    ) -> None:
        critical = {
            item_id
            for item_id in item_ids
            if open_flag(unit.keys, results[items[item_id].current_result_id]) in CRITICAL_FLAGS  # type: ignore[index]
        }
        if not critical:
            return
        called = called_results(unit, [items[i].current_result_id for i in critical])  # type: ignore[misc]
        missing = [
            f"item_ids[{position}] ({items[item_id].test_code})"
            for position, item_id in enumerate(item_ids)
            if item_id in critical and items[item_id].current_result_id not in called
        ]
        if missing:
            raise Conflict(
                "critical value not yet called to the prescriber: record the call first for "
                + ", ".join(missing)
            )

    def _check_qc_holds(
        self,
        unit: Unit,
        item_ids: Sequence[uuid.UUID],
        items: dict[uuid.UUID, OrderItem],
        results: dict[uuid.UUID, Result],
    ) -> None:
        """A Westgard rejection of the instrument that measured a result, for its test, awaiting a
        biologist's decision, holds it (qc/holds.py): the whole batch is refused, naming the items
        and the QC result to decide on."""
        candidates = [
            Candidate(item_id, result.entered_by, items[item_id].test_code, result.entered_at)
            for item_id in item_ids
            if (result := results.get(items[item_id].current_result_id)) is not None  # type: ignore[arg-type]
        ]
        holds = held(unit.session, candidates)
        if not holds:
            return
        named = [
            f"item_ids[{position}] ({items[item_id].test_code}): QC rejection {hold.qc_result_id} "
            f"(lot {hold.lot}, {hold.rules})"
            for position, item_id in enumerate(item_ids)
            if (hold := holds.get(item_id)) is not None
        ]
        raise Conflict(
            "held by an analyzer QC rejection awaiting a biologist's decision "
            "(POST /api/v1/qc/events/{id}/decision): " + "; ".join(named)
        )

    # --- critical calls ---------------------------------------------------------------------------

    def record_critical_call(
        self, ctx: AccessContext, item_id: uuid.UUID, called_party: str, method: str, note: str | None = None
    ) -> uuid.UUID:
        """Who was called about a critical value, how, and when (now, by the caller)."""
        party = " ".join(called_party.split())
        if not 3 <= len(party) <= 200:
            raise InvalidInput(
                "called_party", "must be 3 to 200 characters (name and role of the person told)"
            )
        if method not in ("phone", "in_person", "secure_message"):
            raise InvalidInput("method", "must be one of phone, in_person, secure_message")
        note = clean_comment("note", note)
        with self._unit(ctx, Permission.CRITICAL_CALL) as unit:
            audit.lock_chain(unit.session, ctx)  # two people recording the same call: one gets a 409
            item = unit.session.get(OrderItem, item_id)
            if item is None:
                raise NotFound(f"no order item {item_id} in this laboratory")
            if item.restricted and not sees_restricted(ctx):  # answered as an absent item
                absent = NotFound(f"no order item {item_id} in this laboratory")
                raise refuse_unseen_item(unit, ctx, item, absent, "item_id", "called")
            result = unit.session.get(Result, item.current_result_id) if item.current_result_id else None
            if result is None or open_flag(unit.keys, result) not in CRITICAL_FLAGS:
                raise Conflict("the current result of this item is not a critical value")
            if called_results(unit, [result.id]):  # checked: a call moved here fails, never blocks
                raise Conflict("this critical value's call is already recorded")
            call = CriticalCall(
                id=uuid.uuid4(), lab_id=unit.lab_id, result_id=result.id, called_by=ctx.actor_id
            )
            for column, value in seal_critical_call(unit.keys, call.id, method, party, note).items():
                setattr(call, column, value)
            unit.session.add(call)
            unit.session.flush()
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "result.critical_call",
                    OBJECT,
                    str(result.id),
                    {"call": str(call.id)},
                    patient_id=patients_of_orders(unit, [item.order_id]).get(item.order_id),
                ),
            )
            return call.id
