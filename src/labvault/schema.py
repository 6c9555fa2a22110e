"""Every table of labvault in one place: importing this module registers each layer's models on the
shared metadata. Alembic's env.py, the SQLite planner statistics and the PostgreSQL row-level
security take their tables from :func:`metadata`, so that store/ never names a domain and a table
added by a later layer cannot be left out (tests/test_architecture.py checks the list is whole)."""

from __future__ import annotations

from sqlalchemy import MetaData

import labvault.catalog.storage
import labvault.governance.incident_models
import labvault.identity.account_action_models
import labvault.identity.credential_epoch
import labvault.identity.models
import labvault.identity.webauthn_models
import labvault.interop.instrument_models
import labvault.interop.models
import labvault.interop.order_models
import labvault.interop.outbound_models
import labvault.keys.models
import labvault.oversight.canary_models
import labvault.oversight.read_mark_models
import labvault.qc.models
import labvault.security.alert_models
import labvault.security.grant_models
import labvault.security.models
import labvault.security.rate_limit_models
import labvault.workflow.models  # noqa: F401 - each registers its tables on the metadata
from labvault.store import migrate
from labvault.store.base import Base
from labvault.store.pg_rls import APP_ROLE


def metadata() -> MetaData:
    """The metadata holding every labvault table."""
    return Base.metadata


def upgrade(url: str, revision: str = "head", *, app_role: str = APP_ROLE) -> None:
    """:func:`labvault.store.migrate.upgrade` over every labvault table."""
    migrate.upgrade(url, revision, metadata=metadata(), app_role=app_role)
