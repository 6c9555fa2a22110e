"""Support grants: a lab admin lets a platform operator into the lab, read-only, for a few hours."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted, utcnow


class SupportGrant(TenantScoped, Base):
    """One operator, one lab, until ``expires_at`` or ``revoked_at``. The reason is encrypted with
    the lab's keys (it may describe a patient's problem)."""

    __tablename__ = "support_grants"
    __table_args__ = (Index("ix_support_grants_operator", "lab_id", "operator_id", "expires_at"),)

    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    granted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    reason_enc: Mapped[bytes | None] = encrypted()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
