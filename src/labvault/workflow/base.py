"""What every workflow service shares: a lab-scoped, authorised transaction with the lab's keys
and active catalogue, and the restricted-results policy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from labvault.catalog.model import Catalog
from labvault.catalog.service import CatalogService
from labvault.crypto.keyset import LabKeySet
from labvault.errors import Forbidden, InvalidInput
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission, allows, require_lab
from labvault.store.database import Database
from labvault.workflow.models import AccessOverride

MIN_OVERRIDE_REASON = 15


@dataclass(frozen=True)
class Unit:
    """One transaction of one lab: the session, its keys and its catalogue."""

    session: Session
    keys: LabKeySet
    catalog: Catalog
    lab_id: uuid.UUID


class WorkflowService:
    def __init__(self, db: Database, keys: KeyStore, catalogs: CatalogService) -> None:
        self.db = db
        self.keys = keys
        self.catalogs = catalogs

    @contextmanager
    def _unit(self, ctx: AccessContext, permission: Permission) -> Iterator[Unit]:
        require_lab(ctx, permission)
        assert ctx.lab_id is not None
        with self.db.transaction(ctx.lab_id) as session:
            keys = self.keys.keyset(session, ctx.lab_id)
            yield Unit(session, keys, self.catalogs.active_in(session, ctx.lab_id), ctx.lab_id)


def sees_restricted(ctx: AccessContext) -> bool:
    """Biologists see restricted results; everyone else needs a break-the-glass reason."""
    return allows(ctx.role, Permission.RESTRICTED_READ)


def break_glass(
    unit: Unit, ctx: AccessContext, object_type: str, object_id: uuid.UUID, reason: str | None
) -> bool:
    """Decide whether restricted content may be shown. Without the right, a reason unlocks it once:
    the reason is stored encrypted, the access audited as an override for the security officer."""
    if sees_restricted(ctx):
        return True
    if reason is None:
        return False
    cleaned = " ".join(reason.split())
    if len(cleaned) < MIN_OVERRIDE_REASON or len(cleaned) > 500:
        raise InvalidInput("break_glass_reason", f"must be {MIN_OVERRIDE_REASON} to 500 characters")
    if not allows(ctx.role, Permission.RESULT_READ) and not allows(ctx.role, Permission.REPORT_READ):
        raise Forbidden(f"role {ctx.role.value} may not read results, even by breaking the glass")
    row = AccessOverride(id=uuid.uuid4(), lab_id=unit.lab_id, actor_id=ctx.actor_id)
    row.object_type = object_type
    row.object_id = object_id
    row.reason_enc = unit.keys.cipher.encrypt("access_overrides", "reason_enc", row.id, cleaned)
    unit.session.add(row)
    unit.session.flush()
    audit.append(
        unit.session,
        ctx,
        AuditRecord(
            "restricted.break_glass",
            object_type,
            str(object_id),
            {"override_id": str(row.id), "alert": True},
        ),
    )
    detail = {"override_id": str(row.id), "object_type": object_type, "object_id": str(object_id)}
    raise_alert(unit.session, ctx, AlertSpec("break_glass", Severity.HIGH, detail))
    return True
