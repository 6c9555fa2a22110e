"""Alembic environment: runs migrations on the URL given by labvault's own configuration."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from labvault.schema import metadata
from labvault.store.engine import make_engine

target_metadata = metadata()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    existing = context.config.attributes.get("connection")
    if existing is not None:
        _run(existing)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


run_migrations_online()
