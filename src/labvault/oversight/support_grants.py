"""Support access for the platform operator: only through a lab admin's grant.

The vendor runs the platform but holds no standing access to any lab's data (ARCHITECTURE §2).
When a lab needs help, its admin re-authenticates and grants one operator access to that lab for
a few hours (at most eight), with a reason; the grant is audited and raises a low alert, and it
can be revoked at any time. While it is active, the operator may ask for a SUPPORT context in that
lab (web: header ``X-Support-Lab``): read-only, for maintenance, never restricted tests nor result
values (the policy says exactly what, security/policy.py). Every such use is audited; a revoked or
expired grant opens nothing, from the next request on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import Account
from labvault.identity.models import User
from labvault.identity.reauth import DEFAULT_MAX_AGE, require_recent_auth
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.grant_codec import seal_grant_reason
from labvault.security.grant_models import SupportGrant
from labvault.security.permissions import Permission
from labvault.security.policy import require_lab
from labvault.security.reasons import clean_reason
from labvault.store.base import utcnow
from labvault.store.database import Database

OBJECT = "support_grant"
MAX_HOURS = 8


@dataclass(frozen=True)
class GrantInfo:
    id: uuid.UUID
    lab_id: uuid.UUID
    operator_id: uuid.UUID
    operator_username: str
    granted_by: uuid.UUID | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


def _info(row: SupportGrant, username: str) -> GrantInfo:
    return GrantInfo(
        row.id,
        row.lab_id,
        row.operator_id,
        username,
        row.granted_by,
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


def _operator(session: Session, who: str) -> User:
    """An active platform operator named by username or id (the same answer for any miss)."""
    who = who.strip()
    try:
        user = session.get(User, uuid.UUID(who))
    except ValueError:
        user = session.scalar(select(User).where(User.username == who.lower()))
    if user is None or user.role != Role.PLATFORM_OPERATOR.value or not user.active:
        raise InvalidInput("operator", "no active platform operator with this username or id")
    return user


class SupportGrantService:
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

    def grant(
        self, account: Account, ctx: AccessContext, operator: str, hours: int, reason: str
    ) -> GrantInfo:
        """Let ``operator`` into the caller's lab for ``hours`` (1 to 8). The caller, a lab admin,
        must have re-authenticated within the last minutes."""
        require_lab(ctx, Permission.SUPPORT_GRANT_MANAGE)  # before the input is read (the gate: again)
        if not 1 <= hours <= MAX_HOURS:
            raise InvalidInput("hours", f"must be 1 to {MAX_HOURS}")
        cleaned = clean_reason(reason)
        if account.id != ctx.actor_id:
            raise Forbidden("support access is granted by the re-authenticated admin themself")
        now = self.clock()
        require_recent_auth(account, self.reauth_max_age, now)
        with self.gate.lab(ctx, Permission.SUPPORT_GRANT_MANAGE) as unit:
            session = unit.session
            user = _operator(session, operator)
            row = SupportGrant(
                id=uuid.uuid4(),
                lab_id=unit.lab_id,
                operator_id=user.id,
                granted_by=ctx.actor_id,
                created_at=now,
                expires_at=now + dt.timedelta(hours=hours),
            )
            row.reason_enc = seal_grant_reason(unit.keys, row.id, cleaned)
            session.add(row)
            session.flush()
            detail = {"grant_id": str(row.id), "operator_id": str(user.id), "hours": hours}
            audit.append(session, ctx, AuditRecord("support.grant", OBJECT, str(row.id), detail))
            raise_alert(session, ctx, AlertSpec("support_grant", Severity.LOW, detail))
            return _info(row, user.username)

    def revoke(self, ctx: AccessContext, grant_id: uuid.UUID) -> GrantInfo:
        """End a grant now (a second revocation changes nothing)."""
        with self.gate.lab_rows(ctx, Permission.SUPPORT_GRANT_MANAGE) as lab:
            session = lab.session
            row = session.get(SupportGrant, grant_id)
            if row is None:
                raise NotFound(f"no support grant {grant_id} in this laboratory")
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = self.clock(), ctx.actor_id
                session.flush()
                audit.append(
                    session,
                    ctx,
                    AuditRecord("support.revoke", OBJECT, str(row.id), {"operator_id": str(row.operator_id)}),
                )
            user = session.get(User, row.operator_id)
            return _info(row, user.username if user else "?")

    def list(self, ctx: AccessContext) -> list[GrantInfo]:
        """The lab's grants, newest first (at most 200)."""
        with self.gate.lab_rows(ctx, Permission.SUPPORT_GRANT_MANAGE) as lab:
            rows = lab.session.execute(
                select(SupportGrant, User.username)
                .join(User, User.id == SupportGrant.operator_id)
                .order_by(SupportGrant.created_at.desc())
                .limit(200)
            ).all()
            return [_info(row, username) for row, username in rows]

    def enter(self, ctx: AccessContext, lab_id: uuid.UUID) -> AccessContext:
        """The SUPPORT context of the platform operator ``ctx`` in ``lab_id``, built from their
        active grant there (checked on every call, so revocation takes effect at once); each use
        is audited in the lab's log."""
        if ctx.role is not Role.PLATFORM_OPERATOR or ctx.actor_id is None:
            raise Forbidden("only a platform operator acts under a support grant")
        now = self.clock()
        with self.gate.named_lab(ctx, lab_id) as session:
            grant = session.scalars(
                select(SupportGrant)
                .where(
                    SupportGrant.operator_id == ctx.actor_id,
                    SupportGrant.revoked_at.is_(None),
                    SupportGrant.expires_at > now,
                )
                .order_by(SupportGrant.expires_at.desc())
                .limit(1)
            ).first()
            if grant is None:
                raise Forbidden("no active support grant for you in this laboratory: ask its admin")
            support = AccessContext(
                ctx.actor_id,
                ctx.actor_label,
                Role.SUPPORT,
                lab_id,
                Purpose.MAINTENANCE,
                ctx.origin,
                grant_id=grant.id,
            )
            audit.append(session, support, AuditRecord("support.use", OBJECT, str(grant.id)))
            return support
