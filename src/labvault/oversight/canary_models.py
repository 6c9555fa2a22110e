"""Canary patients (honeytokens): synthetic records a lab plants among its real ones.

Nobody has a reason to open one, so any access to it is evidence of browsing or bulk extraction,
and finding one in a file found outside proves the file came from this lab. The patient row itself
is an ordinary patient row, and this table does not tell a thief which one it is: it holds a blind
index of the patient's id (keyed BLAKE2b, its key derived from the lab's index key, which the
database does not hold in clear), and the patient id and planting time sealed like any patient
field. Membership is checked by computing the index of the patients an access names
(oversight/canaries.py).
"""

from __future__ import annotations

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted

INDEX_BYTES = 16


class Canary(TenantScoped, Base):
    """One planted patient. ``label`` is the planting batch's free-text name (no personal data).
    No clear patient id, no clear time: a clear planting time would match the patient row's
    ``created_at``."""

    __tablename__ = "canaries"
    __table_args__ = (Index("ix_canaries_lab_patient_bidx", "lab_id", "patient_bidx", unique=True),)

    patient_bidx: Mapped[bytes] = mapped_column(LargeBinary(INDEX_BYTES))
    patient_id_enc: Mapped[bytes | None] = encrypted()
    planted_at_enc: Mapped[bytes | None] = encrypted()
    label: Mapped[str] = mapped_column(String(100))
