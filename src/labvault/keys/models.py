"""Wrapped keys of each laboratory's key set, stored in the database (useless without the KEK)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, utcnow


class LabKey(Base):
    """One wrapped key of a lab's key set: a data key version or the blind-index key."""

    __tablename__ = "lab_keys"
    __table_args__ = (Index("ix_lab_keys_slot", "lab_id", "purpose", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lab_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("labs.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)
