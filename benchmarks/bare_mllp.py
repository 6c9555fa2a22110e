"""The floor of the MLLP ingestion benchmark (benchmarks/mllp_ingest.py): python-hl7's asyncio MLLP
server, as ``labvault mllp`` runs it, that stores each raw message in one plain table (one
transaction, committed, per message) and only then answers a minimal ``MSA|AA|<control id>``. No
parsing beyond MSH-10, no account, catalogue, result entry, encryption or audit: labvault's
messages/s over this server's is what labvault's own work costs per message.

``python -m benchmarks.bare_mllp --port P (--sqlite FILE | --conninfo LIBPQ)``; prints
``bare mllp: listening on 127.0.0.1:<port>`` once bound (``--port 0``: any free port).

Like labvault's listener, the messages of one connection are taken in order, each written in a
worker thread (``asyncio.to_thread``) while the event loop serves the other connections. The
durability is labvault's: SQLite in WAL mode with ``synchronous=FULL`` and ``BEGIN IMMEDIATE``;
PostgreSQL with its default ``synchronous_commit``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

import psycopg
from hl7.mllp import start_hl7_server

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"
LIMIT = 1_048_576 + 16
TABLE = "bench_mllp_raw"


class Store(Protocol):
    def put(self, control_id: str, raw: bytes) -> None: ...


class SqliteStore:
    """One connection per worker thread on one SQLite file, with labvault's pragmas."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()
        self.connect().execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, control_id TEXT NOT NULL UNIQUE, "
            "received_at TEXT NOT NULL, raw BLOB NOT NULL)"
        )

    def connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self.local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000"):
                connection.execute(f"PRAGMA {pragma}")
            self.local.connection = connection
        return connection

    def put(self, control_id: str, raw: bytes) -> None:
        connection = self.connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                f"INSERT INTO {TABLE} (control_id, received_at, raw) VALUES (?, ?, ?)",
                (control_id, dt.datetime.now(dt.UTC).isoformat(), raw),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


class PostgresStore:
    """One connection per worker thread; each INSERT its own committed transaction."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.local = threading.local()
        self.connect().execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, control_id text NOT NULL UNIQUE, "
            "received_at timestamptz NOT NULL, raw bytea NOT NULL)"
        )

    def connect(self) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] | None = getattr(self.local, "connection", None)
        if connection is None:
            connection = psycopg.connect(self.conninfo, autocommit=True)
            self.local.connection = connection
        return connection

    def put(self, control_id: str, raw: bytes) -> None:
        self.connect().execute(
            f"INSERT INTO {TABLE} (control_id, received_at, raw) VALUES (%s, %s, %s)",
            (control_id, dt.datetime.now(dt.UTC), raw),
        )


def control_id(raw: bytes) -> str:
    """MSH-10, read the cheapest way: the tenth field of the first segment."""
    header = raw.split(b"\r", 1)[0].split(b"|")
    return header[9].decode("ascii", "replace") if len(header) > 9 else ""


def ack(control: str) -> bytes:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return f"MSH|^~\\&|BARE|BENCH|||{stamp}||ACK|{control}|P|2.5.1\rMSA|AA|{control}\r".encode()


async def serve(store: Store, port: int) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await reader.readblock()  # type: ignore[attr-defined]
                except asyncio.IncompleteReadError:
                    return
                control = control_id(raw)
                await asyncio.to_thread(store.put, control, raw)
                writer.write(START_BLOCK + ack(control) + END_BLOCK)
                await writer.drain()
        finally:
            writer.close()

    server = await start_hl7_server(connection, "127.0.0.1", port, limit=LIMIT)
    async with server:
        print(f"bare mllp: listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="the bare MLLP server of benchmarks/mllp_ingest.py")
    parser.add_argument("--port", type=int, default=0)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite", type=Path, help="SQLite file (created)")
    where.add_argument("--conninfo", help="libpq connection string of an existing database")
    args = parser.parse_args()
    store: Store = SqliteStore(args.sqlite) if args.sqlite else PostgresStore(args.conninfo)
    asyncio.run(serve(store, args.port))


if __name__ == "__main__":
    main()
