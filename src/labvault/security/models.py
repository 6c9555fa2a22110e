"""The audit log tables: append-only events, hash-chained per chain (one chain per lab + platform)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base
from labvault.store.pg_rls import PLATFORM_CHAIN

__all__ = ["PLATFORM_CHAIN", "AuditEvent", "AuditHead"]


class AuditEvent(Base):
    """Who did what to which object, why and from where; ids only, never personal data."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_chain_seq", "chain", "chain_seq", unique=True),
        # The patient-visible access log and the read budgets look events up by patient and by actor.
        Index("ix_audit_events_patient", "patient_id", "seq"),
        Index("ix_audit_events_actor_at", "actor_id", "at"),
        # The lab-wide read budget counts a lab's window by its chain (migration 0011).
        Index("ix_audit_events_chain_at", "chain", "at"),
        # No INSERT ... RETURNING: a platform transaction appends to a lab's chain (account changes,
        # failed logins) without the right to read it back (row-level security on PostgreSQL).
        {"implicit_returning": False},
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain: Mapped[str] = mapped_column(String(36))
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime]
    lab_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID | None]
    actor_label: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
    patient_id: Mapped[uuid.UUID | None]
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The tip of one chain; updating it first serialises appends to that chain.

    ``merkle_frontier`` holds the RFC 6962 frontier of the chain's Merkle tree (leaves: the entry
    hashes), one 32-byte subtree root per set bit of ``last_seq``, largest first: the signed
    checkpoint's root comes from it without reading the log."""

    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    merkle_frontier: Mapped[bytes] = mapped_column(LargeBinary)
