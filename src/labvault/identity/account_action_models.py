"""Platform actions on a laboratory's accounts that wait before they take effect.

Once a lab has an established administrator, an operator's action that could open a way into the
lab's accounts (today: resetting a lab admin's second factor) is only *requested*: the lab's admins
are alerted at once and may cancel it until ``effective_at``; only then may the operator apply it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped


class ActionKind(StrEnum):
    MFA_RESET = "mfa_reset"


class ActionStatus(StrEnum):
    PENDING = "pending"
    CANCELLED = "cancelled"
    APPLIED = "applied"


class PendingAccountAction(TenantScoped, Base):
    """One requested platform action on one account of the lab (ids and times only)."""

    __tablename__ = "pending_account_actions"
    __table_args__ = (Index("ix_pending_account_actions_target", "lab_id", "user_id", "status"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # None: the console
    requested_at: Mapped[dt.datetime]
    effective_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
