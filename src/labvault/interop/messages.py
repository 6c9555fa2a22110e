"""The lab admin's view of what the lab's interfaces sent: each message's channel, sender, control
id, outcome and, for a refused one (a dead letter), where and why. Never its content: the message
stays sealed (it names patients); a dead letter's reason names a segment and field, not a value."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from labvault.errors import InvalidInput
from labvault.identity.models import User
from labvault.interop.models import ACCEPTED, REFUSED, InterfaceMessage
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.database import Database

MAX_PAGE = 200
STATES = (ACCEPTED, REFUSED)


@dataclass(frozen=True)
class MessageSummary:
    id: uuid.UUID
    received_at: dt.datetime
    channel: str
    sender_id: uuid.UUID
    sender: str
    control_id: str
    message_type: str
    state: str
    ack_code: str
    error_location: str | None
    error_reason: str | None
    results: int


@dataclass(frozen=True)
class MessagePage:
    messages: list[MessageSummary]
    next_offset: int | None


class InterfaceMessageService:
    def __init__(self, db: Database) -> None:
        self.gate = Gate(db)

    def list(
        self, ctx: AccessContext, *, state: str | None = None, limit: int = 50, offset: int = 0
    ) -> MessagePage:
        """The lab's received messages, newest first; ``state`` ``refused``: the dead letters."""
        if state is not None and state not in STATES:
            raise InvalidInput("state", f"one of {', '.join(STATES)}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be 1 to {MAX_PAGE}")
        if offset < 0:
            raise InvalidInput("offset", "must not be negative")
        with self.gate.lab_rows(ctx, Permission.INTERFACE_MESSAGES_READ) as lab:
            query = select(InterfaceMessage).order_by(
                InterfaceMessage.received_at.desc(), InterfaceMessage.id
            )
            if state is not None:
                query = query.where(InterfaceMessage.state == state)
            rows = lab.session.scalars(query.offset(offset).limit(limit + 1)).all()
            senders = {row.sender_id for row in rows}
            names = {
                user_id: name
                for user_id, name in lab.session.execute(
                    select(User.id, User.username).where(User.id.in_(senders))
                )
            }
            shown = [_summary(row, names.get(row.sender_id, "")) for row in rows[:limit]]
            detail = {"state": state or "all", "messages": [str(m.id) for m in shown]}
            audit.append(lab.session, ctx, AuditRecord("interface.list", "lab", str(lab.lab_id), detail))
        return MessagePage(shown, offset + limit if len(rows) > limit else None)


def _summary(row: InterfaceMessage, sender: str) -> MessageSummary:
    return MessageSummary(
        id=row.id,
        received_at=row.received_at,
        channel=row.channel,
        sender_id=row.sender_id,
        sender=sender,
        control_id=row.control_id,
        message_type=row.message_type,
        state=row.state,
        ack_code=row.ack_code,
        error_location=row.error_location,
        error_reason=row.error_reason,
        results=row.results,
    )
