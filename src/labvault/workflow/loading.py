"""Loading many rows by key without one query per row nor an unbounded ``IN`` list."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import select

from labvault.workflow.base import Unit

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
