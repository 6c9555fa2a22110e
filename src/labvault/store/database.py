"""The database handle services use: sessions scoped to one lab, one transaction each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from labvault.store.engine import make_engine
from labvault.store.tenancy import scope_session


class Database:
    """Owns the engine; hands out sessions that commit on success and roll back on any error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, lab_id: uuid.UUID | None, *, unscoped: bool = False) -> Iterator[Session]:
        """One unit of work for one lab (``lab_id`` None: platform tables only, unless ``unscoped``)."""
        session = scope_session(self._sessions(), lab_id, unscoped=unscoped)
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def prefer_custom_plans(self, session: Session) -> None:
        """For bulk imports on PostgreSQL: plan each statement with its real parameters for the
        rest of the transaction. A generic plan cached while the table was small (or never
        analysed) otherwise makes the duplicate check scan the whole lab, batch after batch."""
        if self.dialect == "postgresql":
            session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    def dispose(self) -> None:
        self.engine.dispose()
