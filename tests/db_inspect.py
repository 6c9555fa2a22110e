"""Reading the database below the services, as the owner role: no ORM, no tenant filter, no key.

Tests check with these what was (or was not) written, independently of the code under test. Every
``**where`` is column = value; ``None`` means IS NULL and a tuple, list or set means IN.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, Table, func, select

from labvault.platform import Platform
from labvault.security.alert_models import Alert
from labvault.security.models import AuditEvent
from labvault.store.base import Base

__all__ = [
    "actor_events",
    "alerts",
    "audit_actions",
    "audit_count",
    "audit_events",
    "chain_of",
    "raw_rows",
    "row_count",
    "row_value",
]


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _where(query: Select[Any], table: Table, where: Mapping[str, object]) -> Select[Any]:
    for column, value in where.items():
        if isinstance(value, tuple | list | set | frozenset):
            query = query.where(table.c[column].in_(list(value)))
        else:
            query = query.where(table.c[column] == value)
    return query


def row_count(platform: Platform, model: type[Base], **where: object) -> int:
    """Rows of ``model``'s table matching ``where``."""
    table = _table(model)
    query = _where(select(func.count()).select_from(table), table, where)
    with platform.db.owner_engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def raw_rows(
    platform: Platform, model: type[Base], *, order_by: Sequence[str] = (), **where: object
) -> list[Any]:
    """The stored rows of ``model``'s table matching ``where`` (encrypted columns as stored)."""
    table = _table(model)
    query = _where(select(table), table, where).order_by(*(table.c[column] for column in order_by))
    with platform.db.owner_engine.connect() as conn:
        return list(conn.execute(query).all())


def row_value(platform: Platform, model: type[Base], row_id: uuid.UUID, column: str) -> Any:
    """One column of one row (a status, a version, a timestamp), as stored."""
    table = _table(model)
    with platform.db.owner_engine.connect() as conn:
        return conn.execute(select(table.c[column]).where(table.c.id == row_id)).scalar_one()


def chain_of(lab_id: uuid.UUID | None) -> str:
    """The audit chain a lab's events are appended to (``None``: the platform's)."""
    return str(lab_id) if lab_id is not None else "platform"


def audit_events(
    platform: Platform, lab_id: uuid.UUID | None, action: str | None = None, **where: object
) -> list[Any]:
    """A chain's events, oldest first, optionally of one action (``lab_id`` None: the platform chain)."""
    if action is not None:
        where["action"] = action
    return raw_rows(platform, AuditEvent, order_by=("chain_seq",), chain=chain_of(lab_id), **where)


def audit_actions(
    platform: Platform, lab_id: uuid.UUID | None, object_id: uuid.UUID | None = None
) -> list[str]:
    """The actions of a chain, oldest first, optionally about one object."""
    where = {} if object_id is None else {"object_id": str(object_id)}
    return [str(event.action) for event in audit_events(platform, lab_id, **where)]


def audit_count(platform: Platform, lab_id: uuid.UUID | None) -> int:
    """Events in a chain (``None``: the platform chain)."""
    return row_count(platform, AuditEvent, chain=chain_of(lab_id))


def actor_events(platform: Platform, actor_id: uuid.UUID | None, action: str) -> list[Any]:
    """One actor's events of one action, in every chain, in the order they were appended."""
    return raw_rows(platform, AuditEvent, order_by=("seq",), actor_id=actor_id, action=action)


def alerts(platform: Platform, *, order_by: Sequence[str] = ("at",), **where: object) -> list[Any]:
    """Security alerts matching ``where`` (a lab's, an actor's, of some kinds), oldest first."""
    return raw_rows(platform, Alert, order_by=order_by, **where)
