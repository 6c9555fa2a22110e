"""Whose order a result's "previous value" came from, and who may see it.

A result stores the patient's last signed result of the same test (value, date, result id) for
the delta check and the report. That earlier result may belong to another physician's order: a
prescriber must not read it through their own (their orders only, ARCHITECTURE §3), and a
restricted test's earlier result (HIV, hepatitis, pregnancy...) is printed on a report only when
it comes from the same prescriber's order. Staff of the lab see every previous value, as they see
the history."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from typing import TypeVar

from sqlalchemy import select

from labvault.security.access import AccessContext, Role
from labvault.store.bound_links import check_columns, sealed_columns
from labvault.workflow.base import Unit
from labvault.workflow.loading import chunks
from labvault.workflow.models import Order, OrderItem, Result
from labvault.workflow.order_data import ResultSummary

K = TypeVar("K")


def previous_result_id(previous: Mapping[str, str] | None) -> uuid.UUID | None:
    if not previous or not previous.get("result_id"):
        return None
    return uuid.UUID(previous["result_id"])


def prescribers_of_results(unit: Unit, result_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
    """Result id -> the prescriber of its order (None: an order without one), one join per chunk."""
    found: dict[uuid.UUID, uuid.UUID | None] = {}
    for chunk in chunks(list(dict.fromkeys(result_ids))):
        rows = unit.session.execute(
            select(Result.id, Order.prescriber_id)
            .add_columns(*sealed_columns(Result), *sealed_columns(OrderItem), *sealed_columns(Order))
            .join(OrderItem, OrderItem.id == Result.order_item_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Result.id.in_(chunk))
        ).all()
        for model in (Result, OrderItem, Order):  # whose order it is decides who sees the value
            check_columns(unit.keys, model, rows)
        found.update((result_id, prescriber) for result_id, prescriber, *_ in rows)
    return found


def same_prescriber(unit: Unit, previous: Mapping[str, str] | None, prescriber_id: uuid.UUID | None) -> bool:
    """Whether the earlier result behind ``previous`` is of an order of ``prescriber_id`` (never
    for an order without a prescriber: it is nobody's)."""
    result_id = previous_result_id(previous)
    if result_id is None or prescriber_id is None:
        return False
    return prescribers_of_results(unit, [result_id]).get(result_id) == prescriber_id


def for_caller(unit: Unit, ctx: AccessContext, summaries: dict[K, ResultSummary]) -> dict[K, ResultSummary]:
    """``summaries`` as ``ctx`` may read them: a prescriber's lose the previous value and delta
    that came from another physician's order; everyone else's are unchanged."""
    if ctx.role is not Role.PRESCRIBER:
        return summaries
    earlier = {key: previous_result_id(s.previous) for key, s in summaries.items()}
    owners = prescribers_of_results(unit, [r for r in earlier.values() if r is not None])

    def own(result_id: uuid.UUID | None) -> bool:
        return result_id is not None and owners.get(result_id) == ctx.physician_id

    return {
        key: summary if own(earlier[key]) else dataclasses.replace(summary, previous=None, delta=None)
        for key, summary in summaries.items()
    }
