"""The schema comes from Alembic migrations, and the migrations match the models exactly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from labvault.platform import Platform
from labvault.store.base import Base
from labvault.store.migrate import alembic_config
from tests.conftest import build_platform


def test_migrated_schema_matches_models(platform: Platform) -> None:
    with platform.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    platform, _ = build_platform(tmp_path, "sqlite")
    try:
        with platform.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        platform.close()


def test_downgrade_and_upgrade_again(fresh_platform: Platform, tmp_path: Path) -> None:
    config = alembic_config(fresh_platform.db.url)
    fresh_platform.db.dispose()
    command.downgrade(config, "base")
    assert set(inspect(fresh_platform.db.engine).get_table_names()) <= {"alembic_version"}
    fresh_platform.db.dispose()
    command.upgrade(config, "head")
    assert "patients" in inspect(fresh_platform.db.engine).get_table_names()
