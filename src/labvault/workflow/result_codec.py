"""Result rows: seal a new version, open one for an authorised reader."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from labvault.catalog.model import TestDefinition
from labvault.crypto.keyset import LabKeySet
from labvault.store.bound_links import check_columns, sealed_columns
from labvault.workflow import codec
from labvault.workflow.base import Unit
from labvault.workflow.loading import chunks, load_by_id
from labvault.workflow.models import CriticalCall, OrderItem, Result
from labvault.workflow.order_data import ResultSummary

TABLE = Result.__tablename__


def seal_result(
    keys: LabKeySet,
    row_id: uuid.UUID,
    value: str,
    flag: str,
    comment: str | None,
    interpretation: dict[str, Any],
    correction_reason: str | None,
) -> dict[str, bytes]:
    return {
        "value_enc": codec.seal(keys, TABLE, "value_enc", row_id, value),
        "flag_enc": codec.seal(keys, TABLE, "flag_enc", row_id, flag),
        "comment_enc": codec.seal(keys, TABLE, "comment_enc", row_id, comment),
        "interpretation_enc": codec.seal_json(keys, TABLE, "interpretation_enc", row_id, interpretation),
        "correction_reason_enc": codec.seal(keys, TABLE, "correction_reason_enc", row_id, correction_reason),
    }


def open_flag(keys: LabKeySet, row: Result) -> str:
    return codec.open_text(keys, TABLE, "flag_enc", row.id, row.flag_enc) or "N"


def open_correction_reason(keys: LabKeySet, row: Result) -> str | None:
    return codec.open_text(keys, TABLE, "correction_reason_enc", row.id, row.correction_reason_enc)


def summarise(
    unit: Unit, row: Result, test: TestDefinition | None, *, critical_called: bool = False
) -> ResultSummary:
    keys = unit.keys
    interpretation: dict[str, Any] = (
        codec.open_json(keys, TABLE, "interpretation_enc", row.id, row.interpretation_enc) or {}
    )
    chosen = interpretation.get("range")
    return ResultSummary(
        id=row.id,
        order_item_id=row.order_item_id,
        version=row.version,
        status=row.status,
        value=codec.open_text(keys, TABLE, "value_enc", row.id, row.value_enc) or "",
        flag=open_flag(keys, row),
        comment=codec.open_text(keys, TABLE, "comment_enc", row.id, row.comment_enc),
        unit=interpretation.get("unit", test.unit if test else None),
        reference=(chosen[0], chosen[1]) if chosen else None,
        previous=interpretation.get("previous"),
        delta=interpretation.get("delta"),
        critical_called=critical_called,
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
