"""Engine creation for the two supported databases: embedded SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

# The execution options of a read-only transaction: SQLite begins it deferred (no write lock), psycopg
# begins it READ ONLY (PostgreSQL refuses any write in it).
READ_ONLY = "labvault_read_only"
READ_ONLY_OPTIONS = {READ_ONLY: True, "postgresql_readonly": True}


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_conninfo(url: str) -> str:
    """A libpq connection string (for psycopg directly: creating/dropping databases) from a URL."""
    parsed = make_url(url)
    parts = [
        f"host={parsed.host or '127.0.0.1'}",
        f"port={parsed.port or 5432}",
        f"user={parsed.username or 'postgres'}",
        f"dbname={parsed.database or 'postgres'}",
    ]
    if parsed.password:
        parts.append(f"password={parsed.password}")
    return " ".join(parts)


# The files SQLite keeps beside a database: each holds pages of it (the WAL, until checkpointed).
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def secure_sqlite_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite does (it would use 0644 under the
    usual umask); SQLite gives its -wal and -shm files the database file's mode. Files an older
    version left readable by others are tightened."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        return  # no such directory: SQLite's own error says so when it connects
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        try:
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)
        except FileNotFoundError:
            continue


@dataclass(frozen=True)
class PoolSize:
    """The connections one engine of one process keeps open (``size``) and opens beyond that under
    load (``overflow``, closed again when returned): at most ``size + overflow`` at once, after
    which a thread waits for one (SQLAlchemy's QueuePool, 30 s, then an error)."""

    size: int
    overflow: int

    @property
    def most(self) -> int:
        return self.size + self.overflow


# PostgreSQL, the application's engine: one connection per request thread at most, and uvicorn
# runs sync routes on anyio's thread pool of 40, so 40 connections per worker process. Two workers
# (80) plus the owner's engines (below) stay under PostgreSQL's default max_connections of 100
# (3 of which are reserved for superusers). Settings: LABVAULT_DATABASE_POOL_SIZE / _MAX_OVERFLOW.
APP_POOL = PoolSize(10, 30)
# PostgreSQL, the owner's engine: maintenance only (the checkpoint signer, audit proofs, re-encryption).
OWNER_POOL = PoolSize(2, 3)
# SQLite: one writer at a time whatever the pool, and every audited transaction writes; a few open
# connections for the WAL's concurrent readers (and so that the WAL is not removed, below).
SQLITE_POOL = PoolSize(5, 10)


def make_engine(url: str, *, echo: bool = False, pool: PoolSize = APP_POOL) -> Engine:
    """An engine tuned for labvault: SQLite in WAL mode with immediate transactions, its files
    owner-only; PostgreSQL with ``pool`` (SQLite keeps its own, :data:`SQLITE_POOL`). Statement
    parameters (sealed fields, blind indexes, ids) never appear in its logs or its exceptions'
    text, which end up in log files and tracebacks (``hide_parameters``)."""
    url = normalise_url(url)
    database = sqlite_file(url)
    if database is not None:
        secure_sqlite_file(database)
    if url.startswith("sqlite"):
        # A pool of open connections: closing the last SQLite connection checkpoints and removes
        # the WAL (an fsync each time), which made every short transaction cost tens of ms.
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_size=SQLITE_POOL.size,
            max_overflow=SQLITE_POOL.overflow,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.overflow,
    )


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so every writing transaction takes the write lock
    up front instead of failing on a read-to-write upgrade; a read-only one (:data:`READ_ONLY`)
    begins deferred, with ``query_only`` on for its duration."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it returns (NORMAL, in WAL mode, may lose the last
        # commits to a power loss or an OS crash). A read is answered only once its audit event is
        # committed; the group commit (security/audit_group.py) makes one fsync serve many reads.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only transaction (store/database.py) takes no write lock: it reads the snapshot of
        # its first statement while the one writer goes on.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            connection.exec_driver_sql("PRAGMA query_only = ON")  # any write in it fails
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("PRAGMA query_only = OFF")
