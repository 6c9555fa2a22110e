"""An acknowledged write survives a power loss: labvault's SQLite connections commit with
``synchronous=FULL`` (an fsync per commit; in WAL mode NORMAL may lose the last commits to an OS
crash). Test platforms relax this for speed (tests/conftest.py), so this checks the engine itself,
and that the relaxation reached only the test platform's own engine."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from labvault.platform import Platform
from labvault.store.engine import make_engine

FULL, NORMAL = 2, 1


def test_labvault_sqlite_connections_commit_with_synchronous_full(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'durable.sqlite3'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA synchronous")).scalar_one() == FULL
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        engine.dispose()


def test_test_platforms_relax_durability_for_speed(platform: Platform) -> None:
    """What the suite runs on: SQLite without the fsync, PostgreSQL without the WAL flush wait."""
    with platform.db.owner_engine.connect() as connection:
        if platform.db.dialect == "sqlite":
            assert connection.execute(text("PRAGMA synchronous")).scalar_one() == NORMAL
        else:
            assert connection.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
