"""Delayed platform actions on a laboratory's accounts, which the lab's admins can cancel.

An operator keeps the ability to help a lab whose only administrator lost their authenticator, but
never silently: once the lab has an established administrator (active, second factor enrolled), the
operator's reset of a lab admin's factor is a *request*. The lab is alerted at once (high) and any
of its active administrators, the target included, may cancel it during
:attr:`AuthPolicy.platform_action_delay`; after that the operator's second call applies it. The
reset still opens nothing by itself: a new factor is enrolled with the owner's own password, which
the operator never knew (identity/credentials.py refuses a password someone else set).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labvault.errors import Conflict, NotFound
from labvault.identity import account_events
from labvault.identity.account_action_models import ActionKind, ActionStatus, PendingAccountAction
from labvault.identity.account_events import AccountAlert
from labvault.identity.models import User
from labvault.security.access import AccessContext, Role
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.database import Database

MAX_LISTED = 200


@dataclass(frozen=True)
class AccountAction:
    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    requested_by: uuid.UUID | None  # None: the server's console
    requested_at: dt.datetime
    effective_at: dt.datetime
    status: str
    decided_by: uuid.UUID | None
    decided_at: dt.datetime | None


def _out(row: PendingAccountAction) -> AccountAction:
    return AccountAction(
        row.id,
        row.user_id,
        row.kind,
        row.requested_by,
        row.requested_at,
        row.effective_at,
        row.status,
        row.decided_by,
        row.decided_at,
    )


def lab_has_established_admin(session: Session, lab_id: uuid.UUID, *, but: uuid.UUID | None = None) -> bool:
    """An active lab admin (other than ``but``) with a second factor enrolled: someone who signs in,
    sees the lab's alerts and can stop what the platform does to its accounts. The factor is what
    counts, not the password: an account from before 0012 may hold a given password and a factor
    only its owner has."""
    query = select(User.id).where(
        User.lab_id == lab_id,
        User.role == Role.LAB_ADMIN.value,
        User.active.is_(True),
        User.mfa_enabled_at.is_not(None),
    )
    if but is not None:
        query = query.where(User.id != but)
    return session.scalar(query.limit(1)) is not None


def take_due(
    session: Session,
    ctx: AccessContext,
    user: User,
    kind: ActionKind,
    now: dt.datetime,
    delay: dt.timedelta,
) -> AccountAction | None:
    """None if the operator may act now: its request for this action was not cancelled and its
    delay has passed (the request is then marked applied). Otherwise the pending request, made
    now (alerted to the lab) if there was none."""
    assert user.lab_id is not None
    pending = session.scalars(
        select(PendingAccountAction)
        .where(
            PendingAccountAction.user_id == user.id,
            PendingAccountAction.kind == kind.value,
            PendingAccountAction.status == ActionStatus.PENDING.value,
        )
        .order_by(PendingAccountAction.requested_at.desc())
        .with_for_update()
    ).first()
    if pending is not None and pending.effective_at <= now:
        session.execute(
            update(PendingAccountAction)
            .where(PendingAccountAction.id == pending.id)
            .values(status=ActionStatus.APPLIED.value, decided_by=ctx.actor_id, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        return None
    if pending is not None:
        return _out(pending)
    row = PendingAccountAction(
        id=uuid.uuid4(),
        lab_id=user.lab_id,
        user_id=user.id,
        kind=kind.value,
        requested_by=ctx.actor_id,
        requested_at=now,
        effective_at=now + delay,
        status=ActionStatus.PENDING.value,
    )
    session.add(row)
    session.flush()
    account_events.record(
        session,
        ctx,
        user.lab_id,
        AuditRecord(
            "account_action.request",
            "user",
            str(user.id),
            {"kind": kind.value, "action_id": str(row.id), "effective_at": row.effective_at.isoformat()},
        ),
        AccountAlert.PLATFORM_ACTION_REQUESTED,
        {"kind": kind.value, "action_id": str(row.id), "effective_at": row.effective_at.isoformat()},
    )
    return _out(row)


class AccountActionService:
    """The lab admins' side: see the platform's requests on their accounts, cancel them."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        self.gate = Gate(db)

    def list(self, ctx: AccessContext) -> list[AccountAction]:
        with self.gate.lab_rows(ctx, Permission.LAB_USERS_MANAGE) as lab:
            rows = lab.session.scalars(
                select(PendingAccountAction)
                .order_by(PendingAccountAction.requested_at.desc())
                .limit(MAX_LISTED)
            ).all()
            return [_out(row) for row in rows]

    def cancel(self, ctx: AccessContext, action_id: uuid.UUID) -> AccountAction:
        """Any active admin of the lab (the target included) stops a pending platform request."""
        with self.gate.lab_rows(ctx, Permission.LAB_USERS_MANAGE) as lab:
            now, session = self.clock(), lab.session
            row = session.get(PendingAccountAction, action_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no account action {action_id}")
            if row.status != ActionStatus.PENDING.value:
                raise Conflict(f"this action is already {row.status}")
            session.execute(
                update(PendingAccountAction)
                .where(PendingAccountAction.id == row.id)
                .values(status=ActionStatus.CANCELLED.value, decided_by=ctx.actor_id, decided_at=now)
                .execution_options(synchronize_session=False)
            )
            account_events.record(
                session,
                ctx,
                lab.lab_id,
                AuditRecord("account_action.cancel", "user", str(row.user_id), {"action_id": str(row.id)}),
                None,
            )
            session.refresh(row)
            return _out(row)
