"""A laboratory's personal-data breach incidents, and the patients each one affects.

An incident keeps in clear only what its deadline and its listing need (times, status, nature,
approximate counts: no personal data, see docs/SECURITY.md); everything people type about it
(what happened, categories, consequences, measures, the DPO's contact) is sealed in
``details_enc`` like any patient field. The affected patients are patient ids only, each with
the source that found it (a breach check, an audit-log query, an export's manifest); both links
are bound to the row (store/bound_links.py), so a patient moved from one incident to another, or
swapped for another patient, reads as an integrity error rather than a letter to the wrong person.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted
from labvault.store.bound_links import bound, links_seal


class BreachIncident(TenantScoped, Base):
    __tablename__ = "breach_incidents"
    __table_args__ = (Index("ix_breach_incidents_lab_discovered", "lab_id", "discovered_at"),)

    discovered_at: Mapped[dt.datetime]  # the 72-hour clock of GDPR art. 33 starts here
    opened_at: Mapped[dt.datetime]
    opened_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)  # None: the console
    nature: Mapped[str] = mapped_column(String(64))  # confidentiality,integrity,availability
    status: Mapped[str] = mapped_column(String(16))  # open, notified, closed
    people_approx: Mapped[int | None] = mapped_column(Integer, nullable=True)
    records_approx: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notified_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    details_enc: Mapped[bytes | None] = encrypted()  # JSON: every free-text field, sealed


class IncidentPatient(TenantScoped, Base):
    __tablename__ = "breach_incident_patients"
    __table_args__ = (
        Index(
            "ix_breach_incident_patients_entry", "lab_id", "incident_id", "patient_id", "source", unique=True
        ),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("breach_incidents.id"), info=bound())
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), info=bound())
    source: Mapped[str] = mapped_column(String(16))  # check, audit, export
    added_at: Mapped[dt.datetime]
    links_mac: Mapped[bytes | None] = links_seal()
