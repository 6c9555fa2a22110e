"""Row links sealed in the one place every service goes through: the ORM session.

A column tagged :func:`bound` (``info={"bound": ...}``) is covered by its row's ``links_mac``
(crypto/row_links.py). In a session bound to its lab's keys (:func:`bind_session`: the access
gate binds every lab unit it opens, security/gate.py):

- every row of a bound table written (added, or one of its bound columns changed) is sealed at
  flush, so no service can forget it;
- every such row loaded is checked before anything reads it: a moved, copied or nulled link, or a
  missing seal once the lab is bound (keys/store.py), is an :class:`IntegrityError`.

Queries that join through links without loading the rows (plain columns, for speed) select
:func:`sealed_columns` too and call :func:`check_columns`.

Bulk ``UPDATE`` statements skip the flush: only on columns that are not bound (an override's expiry).
Sessions never bound (tests, maintenance) load rows unchecked and refuse to write bound rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, LargeBinary, Table, event, inspect
from sqlalchemy.orm import InstanceState, Mapped, QueryContext, Session, mapped_column
from sqlalchemy.sql.elements import Label

from labvault.crypto.keyset import LabKeySet
from labvault.store.base import Base

SESSION_KEY = "labvault.link_keys"
MAC_COLUMN = "links_mac"
LINK = "link"  # a column that leads to other rows: whose data this row is, or shows
ACCESS = "access"  # a column that decides who may see the row (a restricted test)


class UnboundWrite(RuntimeError):
    """A bound row was written in a session without the lab's keys: it would carry no seal."""


def bound(kind: str = LINK) -> dict[str, Any]:
    """``info`` of a column covered by its row's link seal."""
    return {"bound": kind}


def links_seal() -> Mapped[bytes | None]:
    """The seal column of a table with bound columns (NULL only on rows from before 0013)."""
    return mapped_column(MAC_COLUMN, LargeBinary(), nullable=True, default=None)


@cache
def bound_columns(table: Table) -> tuple[str, ...]:
    """The bound columns of ``table``, by name (the order the seal covers them in)."""
    return tuple(sorted(c.name for c in table.columns if c.info.get("bound")))


def bound_tables() -> list[Table]:
    """Every table with a seal column, of the models imported so far."""
    return [t for t in Base.metadata.sorted_tables if MAC_COLUMN in t.columns and bound_columns(t)]


def bind_session(session: Session, keys: LabKeySet) -> None:
    """Seal and check bound rows in ``session`` with ``keys`` (the lab its transaction is scoped to)."""
    session.info[SESSION_KEY] = keys


def seal_values(keys: LabKeySet, table: Table, row_id: uuid.UUID, values: Mapping[str, Any]) -> bytes:
    return keys.links.seal(table.name, row_id, bound_columns(table), values)


def check_values(
    keys: LabKeySet, table: Table, row_id: uuid.UUID, values: Mapping[str, Any], mac: bytes | None
) -> None:
    keys.links.check(
        table.name, row_id, bound_columns(table), values, mac, legacy_allowed=not keys.links_bound
    )


# --- rows loaded as columns ------------------------------------------------------------------------


def _label(table: Table, name: str) -> str:
    return f"{table.name}__{name}"


def sealed_columns(model: Any) -> list[Label[Any]]:
    """What a column query must also select to check ``model``'s rows it joins through."""
    table: Table = model.__table__
    names = ("id", *bound_columns(table), MAC_COLUMN)
    return [table.c[name].label(_label(table, name)) for name in names]


def check_columns(keys: LabKeySet, model: Any, rows: Iterable[Any]) -> None:
    """Check the seal of each ``model`` row that ``rows`` (selected with :func:`sealed_columns`) hold."""
    table: Table = model.__table__
    names = bound_columns(table)
    seen: set[uuid.UUID] = set()
    for row in rows:
        mapping = row._mapping
        row_id = mapping[_label(table, "id")]
        if row_id in seen:
            continue
        seen.add(row_id)
        values = {name: mapping[_label(table, name)] for name in names}
        check_values(keys, table, row_id, values, mapping[_label(table, MAC_COLUMN)])


# --- ORM events ------------------------------------------------------------------------------------


def _table_of(obj: object) -> Table | None:
    table = getattr(type(obj), "__table__", None)
    if isinstance(table, Table) and MAC_COLUMN in table.columns and bound_columns(table):
        return table
    return None


def _explicit(obj: Any, table: Table) -> dict[str, Any]:
    """The bound values of a row about to be written, defaults made explicit: the seal must cover
    exactly what the INSERT stores."""
    state: InstanceState[Any] = inspect(obj)
    values: dict[str, Any] = {}
    for name in bound_columns(table):
        if name not in state.dict:
            column: Column[Any] = table.c[name]
            default = column.default
            value = default.arg if default is not None and default.is_scalar else None  # type: ignore[attr-defined]
            setattr(obj, name, value)
        values[name] = state.dict[name]
    return values


def _changed(obj: Any, names: Sequence[str]) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in names)


@event.listens_for(Session, "before_flush")
def _seal_written_rows(session: Session, _context: Any, _instances: Any) -> None:
    keys: LabKeySet | None = session.info.get(SESSION_KEY)
    for obj in (*session.new, *session.dirty):
        table = _table_of(obj)
        if table is None:
            continue
        unsealed = inspect(obj).dict.get(MAC_COLUMN) is None  # new, or a legacy row: sealed now
        if not unsealed and not _changed(obj, bound_columns(table)):
            continue
        if keys is None:
            raise UnboundWrite(f"{table.name}: a row with bound links written without the lab's keys")
        if obj.id is None:
            obj.id = uuid.uuid4()
        setattr(obj, MAC_COLUMN, seal_values(keys, table, obj.id, _explicit(obj, table)))


def _check_loaded(target: Any, session: Session | None) -> None:
    keys: LabKeySet | None = session.info.get(SESSION_KEY) if session is not None else None
    if keys is None:
        return
    table = _table_of(target)
    if table is None:
        return
    loaded = inspect(target).dict
    names = bound_columns(table)
    if MAC_COLUMN not in loaded or any(name not in loaded for name in names):
        return  # a partial refresh: checked when the row was loaded whole
    values = {name: loaded[name] for name in names}
    check_values(keys, table, loaded["id"], values, loaded[MAC_COLUMN])


@event.listens_for(Base, "load", propagate=True)
def _check_on_load(target: Any, context: QueryContext) -> None:
    _check_loaded(target, context.session)


@event.listens_for(Base, "refresh", propagate=True)
def _check_on_refresh(target: Any, context: QueryContext | None, attrs: Iterable[str] | None) -> None:
    """Expired attributes read again. No context: a bulk UPDATE set them from its own values."""
    if context is None or (attrs is not None and _table_of(target) is None):
        return
    _check_loaded(target, context.session)
