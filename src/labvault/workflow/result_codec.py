"""Result rows: seal a new version, open one for an authorised reader; a critical call's record."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from labvault.catalog.model import TestDefinition
from labvault.crypto.keyset import LabKeySet
from labvault.store.bound_links import check_columns, sealed_columns
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.base import Unit
from labvault.workflow.loading import chunks, load_by_id
from labvault.workflow.models import CriticalCall, OrderItem, Result
from labvault.workflow.order_data import ResultSummary

OBJECT = "result"  # the object type of a result version's audit events
RESULTS = SealedColumns(Result, "value", "flag", "comment", "interpretation", "correction_reason")
CRITICAL_CALLS = SealedColumns(CriticalCall, "method", "called_party", "note")


def seal_result(
    keys: LabKeySet,
    row_id: uuid.UUID,
    value: str,
    flag: str,
    comment: str | None,
    interpretation: dict[str, Any],
    correction_reason: str | None,
) -> dict[str, bytes]:
    clear = {"value": value, "flag": flag, "comment": comment, "correction_reason": correction_reason}
    return RESULTS.seal_all(keys.cipher, row_id, clear, {"interpretation": interpretation})


def open_value(keys: LabKeySet, row: Result) -> str | None:
    return RESULTS.open(keys.cipher, row, "value")


def open_value_of(keys: LabKeySet, result_id: uuid.UUID, sealed: bytes | None) -> str | None:
    """A value selected apart from its row (a column query): the result's id and ciphertext."""
    return RESULTS.open_blob(keys.cipher, "value", result_id, sealed)


def open_flag(keys: LabKeySet, row: Result) -> str:
    return RESULTS.open(keys.cipher, row, "flag") or "N"


def open_correction_reason(keys: LabKeySet, row: Result) -> str | None:
    return RESULTS.open(keys.cipher, row, "correction_reason")


def seal_critical_call(
    keys: LabKeySet, call_id: uuid.UUID, method: str, called_party: str, note: str | None
) -> dict[str, bytes]:
    """Column values (``<field>_enc``) for a critical value's call: how, to whom, and a note."""
    clear = {"method": method, "called_party": called_party, "note": note}
    return CRITICAL_CALLS.seal_all(keys.cipher, call_id, clear)


def summarise(
    unit: Unit, row: Result, test: TestDefinition | None, *, critical_called: bool = False
) -> ResultSummary:
    keys = unit.keys
    interpretation: dict[str, Any] = RESULTS.open_json(keys.cipher, row, "interpretation") or {}
    chosen = interpretation.get("range")
    return ResultSummary(
        id=row.id,
        order_item_id=row.order_item_id,
        version=row.version,
        status=row.status,
        value=open_value(keys, row) or "",
        flag=open_flag(keys, row),
        comment=RESULTS.open(keys.cipher, row, "comment"),
        unit=interpretation.get("unit", test.unit if test else None),
        reference=(chosen[0], chosen[1]) if chosen else None,
        previous=interpretation.get("previous"),
        delta=interpretation.get("delta"),
        critical_called=critical_called,
        entered_at=row.entered_at,
        validated_at=row.bio_validated_at,
    )


def called_results(unit: Unit, result_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    called: set[uuid.UUID] = set()
    for chunk in chunks(list(result_ids)):
        rows = unit.session.execute(
            select(CriticalCall.result_id)
            .add_columns(*sealed_columns(CriticalCall))
            .where(CriticalCall.result_id.in_(chunk))
        ).all()
        check_columns(unit.keys, CriticalCall, rows)  # a call moved to another result fails
        called.update(row.result_id for row in rows)
    return called


def current_summaries(unit: Unit, items: Sequence[OrderItem]) -> dict[uuid.UUID, ResultSummary]:
    """Each item's current result (by item id), decrypted, with whether its critical call is recorded."""
    rows: dict[uuid.UUID, Result] = load_by_id(
        unit, Result, [i.current_result_id for i in items if i.current_result_id is not None]
    )
    called = called_results(unit, list(rows))
    return {
        item.id: summarise(unit, row, unit.catalog.get(item.test_code), critical_called=row.id in called)
        for item in items
        if item.current_result_id is not None and (row := rows.get(item.current_result_id)) is not None
    }
