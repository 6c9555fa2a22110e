"""Security alerts: what the lab's security officer must look at (bulk reads, canaries, overrides)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, utcnow


class Alert(TenantScoped, Base):
    """One alert of one lab. Ids and counts only: no identity, no result, in clear or otherwise."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_lab_at", "lab_id", "at"),)

    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    actor_label: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[uuid.UUID | None]
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
