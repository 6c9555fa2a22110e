"""Schema creation and upgrades through Alembic only (never ``create_all`` on a real database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from labvault.store.engine import make_engine, normalise_url
from labvault.store.pg_rls import APP_ROLE, apply_row_level_security
from labvault.store.sqlite_planner import seed_planner_stats

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", *, metadata: MetaData, app_role: str = APP_ROLE) -> None:
    """Bring the database at ``url`` (the owner's) to ``revision`` (idempotent), then refresh, for the
    tables of ``metadata`` (labvault/schema.py: every table), what
    the migrations do not carry: on SQLite the planner's assumed statistics
    (store/sqlite_planner.py), on PostgreSQL the application role's grants and the row-level
    security policies of every tenant table, including tables new in this upgrade (store/pg_rls.py)."""
    command.upgrade(alembic_config(url), revision)
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            apply_row_level_security(engine, metadata, app_role)
        else:
            seed_planner_stats(engine, metadata)
    finally:
        engine.dispose()
