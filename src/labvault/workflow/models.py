"""Orders, order items, specimens, results, critical-value calls, reports and restricted-access overrides.

Every health value (results, flags, comments, deltas), every clinical detail of a prescription
(clinical information, prescribed drugs, fasting) and every stored PDF is an encrypted column bound to
its lab, table, column and row. What stays clear is what the lab must sort and count without keys:
test codes, sections, tube types, statuses, timestamps, and the ids that link the rows together.

Those links decide whose data a row is and shows, so each is tagged :func:`bound` and sealed with
its row's id in ``links_mac`` (store/bound_links.py): moving one reads as an integrity error.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted, utcnow
from labvault.store.bound_links import ACCESS, bound, links_seal


class Order(TenantScoped, Base):
    """A prescription for one patient: who prescribed what, with the clinical context."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_lab_accession", "lab_id", "accession", unique=True),
        Index("ix_orders_patient", "lab_id", "patient_id"),
    )

    accession: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), info=bound())
    prescriber_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("physicians.id"), default=None, info=bound()
    )
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    catalog_version: Mapped[str] = mapped_column(String(40))
    prescribed_on_enc: Mapped[bytes | None] = encrypted()
    fasting_enc: Mapped[bytes | None] = encrypted()
    clinical_info_enc: Mapped[bytes | None] = encrypted()
    drugs_enc: Mapped[bytes | None] = encrypted()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    links_mac: Mapped[bytes | None] = links_seal()


class OrderItem(TenantScoped, Base):
    """One requested test of an order, with what it bills and where it stands."""

    __tablename__ = "order_items"
    __table_args__ = (
        Index("ix_order_items_order", "lab_id", "order_id"),
        Index("ix_order_items_worklist", "lab_id", "section", "status"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), info=bound())
    test_code: Mapped[str] = mapped_column(String(16))
    panel_code: Mapped[str | None] = mapped_column(String(16), default=None)
    section: Mapped[str] = mapped_column(String(40))
    tube: Mapped[str] = mapped_column(String(60))
    nabm: Mapped[str | None] = mapped_column(String(8), default=None)
    nabm_b: Mapped[int | None] = mapped_column(Integer, default=None)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, info=bound(ACCESS))
    calculated: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    specimen_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("specimens.id"), default=None, info=bound()
    )
    current_result_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None, info=bound())
    links_mac: Mapped[bytes | None] = links_seal()


class Specimen(TenantScoped, Base):
    """One tube: its barcode is encrypted (it links a tube found anywhere to a patient) and found
    again through a blind index when the tube is scanned."""

    __tablename__ = "specimens"
    __table_args__ = (
        Index("ix_specimens_barcode_bidx", "lab_id", "barcode_bidx", unique=True),
        Index("ix_specimens_order", "lab_id", "order_id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), info=bound())
    barcode_enc: Mapped[bytes | None] = encrypted()
    barcode_bidx: Mapped[bytes] = mapped_column(LargeBinary(16))
    tube: Mapped[str] = mapped_column(String(60))
    specimen: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="awaited")
    collected_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    collected_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    received_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    received_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    rejected_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    rejected_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    rejection_reason: Mapped[str | None] = mapped_column(String(24), default=None)
    rejection_comment_enc: Mapped[bytes | None] = encrypted()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    links_mac: Mapped[bytes | None] = links_seal()


class Result(TenantScoped, Base):
    """One version of one item's result. Rows are never rewritten in value: a correction is a new
    version that ``supersedes`` the old one, which stays readable in the history."""

    __tablename__ = "results"
    __table_args__ = (Index("ix_results_item_version", "lab_id", "order_item_id", "version", unique=True),)

    order_item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_items.id"), info=bound())
    version: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("results.id"), default=None, info=bound()
    )
    status: Mapped[str] = mapped_column(String(16), default="entered")
    value_enc: Mapped[bytes | None] = encrypted()
    flag_enc: Mapped[bytes | None] = encrypted()
    comment_enc: Mapped[bytes | None] = encrypted()
    interpretation_enc: Mapped[bytes | None] = encrypted()
    correction_reason_enc: Mapped[bytes | None] = encrypted()
    entered_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    entered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    tech_validated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    tech_validated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    bio_validated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    bio_validated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    links_mac: Mapped[bytes | None] = links_seal()


class CriticalCall(TenantScoped, Base):
    """The prescriber (or the care team) was told of a critical value: who called whom, when, how."""

    __tablename__ = "critical_calls"
    __table_args__ = (Index("ix_critical_calls_result", "lab_id", "result_id", unique=True),)

    result_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("results.id"), info=bound())
    called_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    called_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    method_enc: Mapped[bytes | None] = encrypted()
    called_party_enc: Mapped[bytes | None] = encrypted()
    note_enc: Mapped[bytes | None] = encrypted()
    links_mac: Mapped[bytes | None] = links_seal()


class Report(TenantScoped, Base):
    """A released report: the PDF as sent, encrypted, and which result versions it shows so that
    it can be regenerated from the data and compared."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_order_version", "lab_id", "order_id", "version", unique=True),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), info=bound())
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, info=bound(ACCESS))
    result_ids: Mapped[list[str]] = mapped_column(JSON, info=bound())  # the result versions it shows
    pdf_enc: Mapped[bytes | None] = encrypted()
    context_enc: Mapped[bytes | None] = encrypted()  # lab, patient, prescriber, signatories as released
    released_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    released_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    links_mac: Mapped[bytes | None] = links_seal()
