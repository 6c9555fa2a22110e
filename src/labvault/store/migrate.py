"""Schema creation and upgrades through Alembic only (never ``create_all`` on a real database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from labvault.store.engine import make_engine, normalise_url
from labvault.store.sqlite_planner import seed_planner_stats

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (idempotent); on SQLite, give the planner
    its assumed statistics (store/sqlite_planner.py)."""
    command.upgrade(alembic_config(url), revision)
    if normalise_url(url).startswith("sqlite"):
        engine = make_engine(url)
        try:
            seed_planner_stats(engine)
        finally:
            engine.dispose()
