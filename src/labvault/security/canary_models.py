"""Canary patients (honeytokens): synthetic records a lab plants among its real ones.

Nobody has a reason to open one, so any access to it is evidence of browsing or bulk extraction,
and finding one in a file found outside proves the file came from this lab. The patient row itself
is an ordinary patient row: only this table, which no API serves, tells them apart.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, utcnow


class Canary(TenantScoped, Base):
    """One planted patient. ``label`` is the planting batch's free-text name (no personal data)."""

    __tablename__ = "canaries"
    __table_args__ = (Index("ix_canaries_lab_patient", "lab_id", "patient_id", unique=True),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    planted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    label: Mapped[str] = mapped_column(String(100))
