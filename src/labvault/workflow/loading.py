"""Loading many rows by key without one query per row nor an unbounded ``IN`` list."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import select

from labvault.store.bound_links import check_columns, sealed_columns
from labvault.workflow.base import Unit
from labvault.workflow.models import Order, OrderItem

CHUNK = 500  # well under SQLite's and PostgreSQL's bound-parameter limits
T = TypeVar("T")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def load_by_id(unit: Unit, model: Any, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Rows of ``model`` by id (duplicates asked once), in the unit's tenant-scoped session."""
    found: dict[uuid.UUID, Any] = {}
    for chunk in chunks(list(dict.fromkeys(ids))):
        found.update((row.id, row) for row in unit.session.scalars(select(model).where(model.id.in_(chunk))))
    return found


def patients_of_orders(unit: Unit, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Order id -> patient id: the audit names the patient of every order an event touches."""
    return {order_id: order.patient_id for order_id, order in load_by_id(unit, Order, order_ids).items()}


def patients_of_items(unit: Unit, item_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Order item id -> patient id, one join per chunk."""
    found: dict[uuid.UUID, uuid.UUID] = {}
    for chunk in chunks(list(dict.fromkeys(item_ids))):
        rows = unit.session.execute(
            select(OrderItem.id, Order.patient_id)
            .add_columns(*sealed_columns(OrderItem), *sealed_columns(Order))
            .join(Order, Order.id == OrderItem.order_id)
            .where(OrderItem.id.in_(chunk))
        ).all()
        for model in (OrderItem, Order):  # the audit names the patient the links really lead to
            check_columns(unit.keys, model, rows)
        found.update((item_id, patient_id) for item_id, patient_id, *_ in rows)
    return found
