"""Alembic environment: runs migrations on the URL given by labvault's own configuration."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import labvault.catalog.storage
import labvault.identity.account_action_models
import labvault.identity.models
import labvault.identity.webauthn_models
import labvault.keys.models
import labvault.security.alert_models
import labvault.security.canary_models
import labvault.security.grant_models
import labvault.security.models
import labvault.workflow.models  # noqa: F401 - registers the tables on the metadata
from labvault.store.base import Base
from labvault.store.engine import make_engine

target_metadata = Base.metadata


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
