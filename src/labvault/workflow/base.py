"""What every workflow service shares: a lab-scoped, authorised transaction with the lab's keys
and active catalogue, and how restricted tests are shown (security/policy.py decides)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labvault.catalog.model import Catalog
from labvault.catalog.service import CatalogService
from labvault.crypto.keyset import LabKeySet
from labvault.keys.store import KeyStore
from labvault.security import audit, policy
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission, require_lab
from labvault.security.policy import Effect, Sensitivity
from labvault.store.base import utcnow
from labvault.store.database import Database
from labvault.workflow.models import AccessOverride


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


def sees_restricted(ctx: AccessContext, permission: Permission = Permission.RESULT_READ) -> bool:
    """Whether ``ctx`` handles restricted tests without breaking the glass (biologists): for lists
    across patients (worklists), entry and validation, where no override ever applies."""
    return policy.decide(policy.request_for(ctx, permission, sensitivity=Sensitivity.RESTRICTED)).allowed


def active_override(
    session: Session, actor_id: uuid.UUID | None, patient_id: uuid.UUID, now: dt.datetime
) -> AccessOverride | None:
    """The caller's open break-the-glass override for this patient, if any (the latest)."""
    if actor_id is None:
        return None
    return session.scalars(
        select(AccessOverride)
        .where(
            AccessOverride.actor_id == actor_id,
            AccessOverride.patient_id == patient_id,
            AccessOverride.expires_at > now,
        )
        .order_by(AccessOverride.expires_at.desc())
        .limit(1)
    ).first()


def unlock_restricted(
    unit: Unit,
    ctx: AccessContext,
    permission: Permission,
    patient_id: uuid.UUID,
    object_type: str,
    object_id: uuid.UUID,
) -> bool:
    """Whether this read may show the patient's restricted tests: by right (biologists), or through
    the caller's open break-the-glass override (POST /api/v1/break-glass), each such use audited."""
    request = policy.request_for(ctx, permission, sensitivity=Sensitivity.RESTRICTED)
    decision = policy.decide(request)
    if decision.effect is not Effect.BREAK_GLASS:
        return decision.allowed
    override = active_override(unit.session, ctx.actor_id, patient_id, utcnow())
    if override is None or not policy.decide(policy.with_override(request)).allowed:
        return False
    audit.append(
        unit.session,
        ctx,
        AuditRecord(
            "restricted.override_use",
            object_type,
            str(object_id),
            {"override_id": str(override.id)},
            patient_id=patient_id,
        ),
    )
    return True
