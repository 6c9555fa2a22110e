"""Tenant isolation in one place: every ORM query on a lab-owned table is filtered by the
session's lab, and every lab-owned row written must belong to that lab.

Services open sessions through :func:`scoped_session`; there is no ``where lab_id == ...`` to forget.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.util import find_tables

from labvault.store.base import TenantScoped

LAB_KEY = "labvault.lab_id"
UNSCOPED_KEY = "labvault.unscoped"


class TenantScopeError(RuntimeError):
    """A lab-owned table was touched without a lab scope, or a row of another lab was written."""


def scope_session(session: Session, lab_id: uuid.UUID | None, *, unscoped: bool = False) -> Session:
    """Bind a session to one lab (or, for platform maintenance only, explicitly to none)."""
    session.info[LAB_KEY] = lab_id
    session.info[UNSCOPED_KEY] = unscoped
    return session


def _touches_tenant_table(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantScoped) for mapper in state.all_mappers)


def tenant_tables() -> list[Table]:
    """Every table of a :class:`TenantScoped` model imported so far, by name."""
    found: dict[str, Table] = {}
    pending = list(TenantScoped.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = getattr(cls, "__table__", None)
        if isinstance(table, Table):
            found[table.name] = table
    return [found[name] for name in sorted(found)]


def _core_statement_on_tenant_table(state: ORMExecuteState) -> bool:
    """A Core statement (``select(Patient.__table__)``, ``update(table)``) gets no loader criteria:
    in a scoped session it is refused rather than silently crossing labs."""
    statement = state.statement
    if state.is_orm_statement or not isinstance(statement, ClauseElement):
        return False
    return bool(set(find_tables(statement)) & set(tenant_tables()))


@event.listens_for(Session, "do_orm_execute")
def _add_tenant_filter(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.session.info.get(UNSCOPED_KEY):
        return
    if _core_statement_on_tenant_table(state):
        raise TenantScopeError("Core statement on a laboratory table: use the ORM entity, which is scoped")
    lab_id = state.session.info.get(LAB_KEY)
    if lab_id is None:
        if _touches_tenant_table(state):
            raise TenantScopeError("query on a laboratory table without a laboratory scope")
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.lab_id == lab_id, include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _check_written_rows(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(UNSCOPED_KEY):
        return
    lab_id = session.info.get(LAB_KEY)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, TenantScoped) and obj.lab_id != lab_id:
            raise TenantScopeError("refusing to write a row of another laboratory")
