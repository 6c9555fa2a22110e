"""The database handle services use: sessions scoped to one lab, one transaction each.

On PostgreSQL there are two engines: ``engine`` connects as the application role, held by
row-level security to the lab each transaction declares (store/pg_rls.py); ``owner_engine``
connects as the owner of the tables, for the platform maintenance that legitimately crosses labs
(``transaction(None, unscoped=True)``). SQLite has no roles: both are the same engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.orm import Session, sessionmaker

from labvault.store.engine import APP_POOL, OWNER_POOL, READ_ONLY_OPTIONS, PoolSize, make_engine, sqlite_file
from labvault.store.pg_rls import app_role_url, bind_transaction
from labvault.store.tenancy import LAB_KEY, UNSCOPED_KEY, TenantScopeError, scope_session
from labvault.store.writer_lock import WriterLock


class Transactions(Protocol):
    """What a service opens its transactions on: the platform's :class:`Database`, or a
    :class:`Rehearsal` of it that commits nothing."""

    def transaction(
        self, lab_id: uuid.UUID | None, *, unscoped: bool = False, read_only: bool = False
    ) -> AbstractContextManager[Session]: ...


def prefer_custom_plans(session: Session) -> None:
    """For bulk imports on PostgreSQL: plan each statement with its real parameters for the rest
    of the transaction. A generic plan cached while the table was small (or never analysed)
    otherwise makes the duplicate check scan the whole lab, batch after batch."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


class Database:
    """Owns the engines; hands out sessions that commit on success and roll back on any error."""

    def __init__(
        self,
        url: str,
        app_url: str | None = None,
        *,
        pool: PoolSize = APP_POOL,
        owner_pool: PoolSize = OWNER_POOL,
    ) -> None:
        """``pool`` and ``owner_pool``: the PostgreSQL connection pools of the application's and
        the owner's engines in this process (store/engine.py; SQLite has one engine, its own pool)."""
        self.url = url  # the owner's: migrations and maintenance
        self.pools = (pool, owner_pool)
        self.owner_engine: Engine = make_engine(url, pool=owner_pool)
        if self.owner_engine.dialect.name == "postgresql":
            self.app_url = app_url or app_role_url(url)
            self.engine: Engine = make_engine(self.app_url, pool=pool)
        else:
            self.app_url = url
            self.engine = self.owner_engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._owner_sessions = sessionmaker(self.owner_engine, expire_on_commit=False, autoflush=False)
        database_file = sqlite_file(url)
        self._writer = WriterLock(database_file) if database_file is not None else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(
        self, lab_id: uuid.UUID | None, *, unscoped: bool = False, read_only: bool = False
    ) -> Iterator[Session]:
        """One unit of work for one lab (``lab_id`` None: platform tables only, unless ``unscoped``:
        platform maintenance across labs, run as the owner). ``read_only``: it writes nothing, so
        it takes no write lock on SQLite, and PostgreSQL refuses a write in it."""
        sessions = self._owner_sessions if unscoped else self._sessions
        session = scope_session(sessions(), lab_id, unscoped=unscoped)
        writer = self._writer.held() if self._writer is not None and not read_only else nullcontext()
        try:
            with writer, session.begin():
                if read_only:
                    session.connection(execution_options=READ_ONLY_OPTIONS)
                yield session
        finally:
            session.close()

    @contextmanager
    def maintenance(self) -> Iterator[Session]:
        """Platform maintenance across labs, as the owner: ``transaction(None, unscoped=True)``,
        named for the jobs below the access gate (keys/reencrypt.py) that cannot reach
        security/gate.py, whose ``maintenance`` is this same transaction."""
        with self.transaction(None, unscoped=True) as session:
            yield session

    def connections_needed(self) -> int:
        """PostgreSQL: the most connections this process's two pools may hold at once; SQLite: 0."""
        if self.dialect != "postgresql":
            return 0
        return sum(pool.most for pool in self.pools)

    def connections_allowed(self) -> int | None:
        """PostgreSQL: the connections the server accepts from roles that are not superusers
        (``max_connections`` less the reserved ones); None on SQLite."""
        if self.dialect != "postgresql":
            return None
        with self.engine.connect() as conn:
            total = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
            reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
        return total - reserved

    def dispose(self) -> None:
        self.engine.dispose()
        if self.owner_engine is not self.engine:
            self.owner_engine.dispose()


class Rehearsal:
    """A :class:`Database`'s application engine with every transaction rolled back instead of
    committed: a service runs for real (checks, flags, deltas, calculations) and leaves nothing."""

    def __init__(self, db: Database) -> None:
        self._sessions = sessionmaker(db.engine, expire_on_commit=False, autoflush=False)

    @contextmanager
    def transaction(
        self, lab_id: uuid.UUID | None, *, unscoped: bool = False, read_only: bool = False
    ) -> Iterator[Session]:
        if unscoped:
            raise TenantScopeError("a rehearsal runs in one lab's transaction, never unscoped")
        session = scope_session(self._sessions(), lab_id)
        try:
            session.begin()
            yield session
        finally:
            session.rollback()
            session.close()


@event.listens_for(Session, "after_begin")
def _declare_lab(session: Session, transaction: Any, connection: Connection) -> None:
    """Every scoped session (this module's, and any other built with ``scope_session``) tells
    PostgreSQL its lab as its transaction starts, before its first statement (savepoints inherit
    it: nothing to send again)."""
    if getattr(transaction, "nested", False) or connection.dialect.name != "postgresql":
        return
    if LAB_KEY in session.info:
        bind_transaction(connection, session.info[LAB_KEY], maintenance=bool(session.info.get(UNSCOPED_KEY)))


@contextmanager
def declared_lab(session: Session, lab_id: uuid.UUID) -> Iterator[None]:
    """Statements of a platform transaction (no lab) that work on one lab's rows of a
    platform-managed table (its wrapped keys): that lab is declared for the block only, then no lab
    again. Row-level security shows and accepts that lab's rows and no other; outside the block the
    transaction sees none of them. Pending writes are flushed on entry and on exit, so each is
    checked under the declaration it was made under.

    In a transaction of that very lab, or in maintenance (which sees every lab), nothing changes.
    A transaction of another lab is a bug, refused (:class:`TenantScopeError`): it would otherwise
    declare its way out of its own lab."""
    if session.info.get(UNSCOPED_KEY):
        yield
        return
    current = session.info.get(LAB_KEY)
    if current is not None:
        if current != lab_id:
            raise TenantScopeError("a laboratory's transaction cannot work on another laboratory's rows")
        yield
        return
    _declare(session, lab_id)
    try:
        yield
        session.flush()
    except BaseException:
        # No flush: what the block left pending was meant for the lab, and would now be written
        # (or refused) as the platform's. An aborted transaction can only roll back, which ends
        # the declaration as well.
        session.info[LAB_KEY] = None
        with suppress(DBAPIError, InvalidRequestError):
            _bind(session, None)
        raise
    _declare(session, None)


def _declare(session: Session, lab_id: uuid.UUID | None) -> None:
    """Change the lab of the session's transaction, once what is pending is written under the
    previous one."""
    session.flush()
    session.info[LAB_KEY] = lab_id
    _bind(session, lab_id)


def _bind(session: Session, lab_id: uuid.UUID | None) -> None:
    connection = session.connection()  # begins the transaction if needed (declaring the lab)
    if connection.dialect.name == "postgresql":
        bind_transaction(connection, lab_id, maintenance=False)
