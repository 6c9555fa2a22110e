"""Each laboratory's active catalogue, stored as a versioned document (not patient data)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, utcnow


class LabCatalog(Base):
    """One imported catalogue of one lab; the highest revision is the active one."""

    __tablename__ = "lab_catalogs"
    __table_args__ = (Index("ix_lab_catalogs_lab_revision", "lab_id", "revision", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lab_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("labs.id"))
    revision: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(40))
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(64))
