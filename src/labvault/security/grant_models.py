"""Access granted beyond the role: support grants (a lab admin lets a platform operator into the lab,
read-only, for a few hours) and break-the-glass overrides (one user, one patient's restricted
results, a few hours). Both end when their holder's rights change (security/overrides.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted, utcnow
from labvault.store.bound_links import bound, links_seal


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


class AccessOverride(TenantScoped, Base):
    """A break-the-glass override: one user may read one patient's restricted results until
    ``expires_at`` (at most 4 hours). The reason is kept (encrypted), the opening audited and
    alerted, every use audited. Rows from before 0007 were single reads: no patient, no expiry."""

    __tablename__ = "access_overrides"
    __table_args__ = (Index("ix_access_overrides_actor_patient", "lab_id", "actor_id", "patient_id"),)

    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None, info=bound())
    object_type: Mapped[str] = mapped_column(String(32), info=bound())
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid(), info=bound())
    reason_enc: Mapped[bytes | None] = encrypted()
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None, info=bound())
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # not bound: ended by bulk UPDATE
    links_mac: Mapped[bytes | None] = links_seal()
