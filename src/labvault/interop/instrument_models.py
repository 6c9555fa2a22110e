"""An instrument's own test codes, per interface account: an analyzer sends ``A1`` or ``GLU2``
where the lab's catalogue says ``GLU``; the lab maps each code once. Codes only, no patient data."""

from __future__ import annotations

import uuid

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped


class InstrumentCode(TenantScoped, Base):
    """``code`` sent by the interface ``account_id`` means the catalogue's ``test_code``."""

    __tablename__ = "instrument_codes"
    __table_args__ = (Index("ix_instrument_codes_account_code", "lab_id", "account_id", "code", unique=True),)

    account_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(64))
    test_code: Mapped[str] = mapped_column(String(32))
