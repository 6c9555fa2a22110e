"""Break-the-glass: someone without the standing right (a technician, the reception) opens a
patient's restricted results in an emergency, for a limited time.

The glass is broken once, explicitly (``POST /api/v1/break-glass``), not by a header on each read:
the person re-authenticates, states why (kept encrypted for the security officer), and gets an
override for that one patient for at most four hours. Opening it is audited as an emergency
override and raises a high alert; each read it unlocks is audited as ``restricted.override_use``
(workflow/base.py :func:`unlock_restricted`). When it expires, the tests are hidden again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import Account
from labvault.identity.models import Patient, User
from labvault.identity.reauth import DEFAULT_MAX_AGE, require_recent_auth
from labvault.keys.store import KeyStore
from labvault.security import audit, policy
from labvault.security.access import AccessContext
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.grant_codec import seal_override_reason
from labvault.security.grant_models import AccessOverride
from labvault.security.permissions import Permission
from labvault.security.policy import GLASS_READS, Effect, Sensitivity
from labvault.security.reasons import clean_reason
from labvault.store.base import utcnow
from labvault.store.database import Database

DEFAULT_MINUTES = 60
MAX_MINUTES = 4 * 60


@dataclass(frozen=True)
class OverrideInfo:
    id: uuid.UUID
    patient_id: uuid.UUID
    actor_id: uuid.UUID
    opened_at: dt.datetime
    expires_at: dt.datetime


def check_may_break(ctx: AccessContext) -> Permission:
    """Refuse unless the policy would open restricted reads to ``ctx`` by breaking the glass; the
    first read it would open (which the policy allows ``ctx`` on normal data: the gate's question)."""
    permissions = sorted(GLASS_READS)
    decisions = [
        policy.decide(policy.request_for(ctx, permission, sensitivity=Sensitivity.RESTRICTED))
        for permission in permissions
    ]
    if any(d.allowed for d in decisions):
        raise Conflict("this role already sees restricted tests: there is no glass to break")
    for permission, decision in zip(permissions, decisions, strict=True):
        if decision.effect is Effect.BREAK_GLASS:
            return permission
    if not any(policy.role_may(ctx.role, permission) for permission in GLASS_READS):
        raise Forbidden(
            f"role {ctx.role.value} reads no orders, results or reports, even by breaking the glass"
        )
    raise Forbidden(decisions[0].reason)


def still_holds_rights(session: Session, ctx: AccessContext) -> None:
    """The account, read and locked now, is still active in the role ``ctx`` was built with. A role
    change or deactivation (which ends the person's overrides) that commits while this request is
    under way either waits for it (and then ends the new override too) or is seen here."""
    role = session.scalar(
        select(User.role).where(User.id == ctx.actor_id, User.active.is_(True)).with_for_update()
    )
    if role != ctx.role.value:
        raise Forbidden("your account changed since this request began: sign in again")


class BreakGlassService:
    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        reauth_max_age: dt.timedelta = DEFAULT_MAX_AGE,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.reauth_max_age = reauth_max_age
        self.clock = clock
        self.gate = Gate(db, keys)

    def open(
        self,
        account: Account,
        ctx: AccessContext,
        patient_id: uuid.UUID,
        reason: str,
        minutes: int = DEFAULT_MINUTES,
    ) -> OverrideInfo:
        """Open ``patient_id``'s restricted tests to the caller (``account``, re-authenticated within
        the last minutes, acting as ``ctx``) for ``minutes`` (at most four hours)."""
        cleaned = clean_reason(reason)
        if not 1 <= minutes <= MAX_MINUTES:
            raise InvalidInput("minutes", f"must be 1 to {MAX_MINUTES} (four hours at most)")
        if account.id != ctx.actor_id or ctx.actor_id is None or ctx.lab_id is None:
            raise Forbidden("the glass is broken by the re-authenticated person themself")
        glass_read = check_may_break(ctx)
        now = self.clock()
        require_recent_auth(account, self.reauth_max_age, now)
        expires_at = now + dt.timedelta(minutes=minutes)
        # The gate's unit binds the session: the override names a patient, its links are sealed.
        with self.gate.lab(ctx, glass_read) as unit:
            session = unit.session
            still_holds_rights(session, ctx)
            if session.get(Patient, patient_id) is None:
                raise NotFound(f"no patient {patient_id} in this laboratory")
            row = AccessOverride(
                id=uuid.uuid4(),
                lab_id=unit.lab_id,
                actor_id=ctx.actor_id,
                object_type="patient",
                object_id=patient_id,
                patient_id=patient_id,
                at=now,
                expires_at=expires_at,
            )
            row.reason_enc = seal_override_reason(unit.keys, row.id, cleaned)
            session.add(row)
            session.flush()
            detail = {"override_id": str(row.id), "minutes": minutes}
            audit.append(
                session,
                ctx,
                AuditRecord(
                    "restricted.break_glass",
                    "patient",
                    str(patient_id),
                    {**detail, "alert": True},
                    patient_id=patient_id,
                ),
            )
            raise_alert(session, ctx, AlertSpec("break_glass", Severity.HIGH, detail, patient_id=patient_id))
            return OverrideInfo(row.id, patient_id, ctx.actor_id, now, expires_at)
