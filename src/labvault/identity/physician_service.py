"""Prescribers known to a laboratory: RPPS-identified, encrypted and audited like patients."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labvault.crypto.keyset import LabKeySet
from labvault.errors import Conflict, InvalidInput, NotFound
from labvault.identity.models import Physician
from labvault.identity.physician_codec import (
    PHYSICIANS,
    open_physician,
    open_rpps,
    rpps_index,
    seal_physician,
)
from labvault.identity.validation import validate_email, validate_phone, validate_rpps
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.database import Database


@dataclass(frozen=True)
class PhysicianData:
    rpps: str
    family_name: str
    given_names: str
    specialty: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class PhysicianRecord:
    id: uuid.UUID
    lab_id: uuid.UUID
    data: PhysicianData


def validate_physician(data: PhysicianData) -> PhysicianData:
    family = " ".join(data.family_name.split())
    given = " ".join(data.given_names.split())
    if not family or len(family) > 200:
        raise InvalidInput("family_name", "must be 1 to 200 characters")
    if not given or len(given) > 200:
        raise InvalidInput("given_names", "must be 1 to 200 characters")
    return PhysicianData(
        rpps=validate_rpps(data.rpps),
        family_name=family,
        given_names=given,
        specialty=(data.specialty or "").strip()[:80] or None,
        phone=validate_phone(data.phone) if data.phone else None,
        email=validate_email(data.email) if data.email else None,
    )


class PhysicianService:
    def __init__(self, db: Database, keys: KeyStore) -> None:
        self.gate = Gate(db, keys)

    def register(self, ctx: AccessContext, data: PhysicianData) -> PhysicianRecord:
        """One record per RPPS per lab."""
        data = validate_physician(data)
        with self.gate.lab(ctx, Permission.PHYSICIAN_WRITE) as unit:
            session, keys = unit.session, unit.keys
            index = rpps_index(keys, data.rpps)
            existing = session.scalar(select(Physician.id).where(Physician.rpps_bidx == index))
            if existing is not None:
                raise Conflict("a physician with this RPPS is already registered", [str(existing)])
            row = Physician(id=uuid.uuid4(), lab_id=unit.lab_id, specialty=data.specialty, rpps_bidx=index)
            sealed = seal_physician(keys, row.id, {name: getattr(data, name) for name in PHYSICIANS.fields})
            for column, value in sealed.items():
                setattr(row, column, value)
            session.add(row)
            session.flush()
            audit.append(session, ctx, AuditRecord("physician.create", "physician", str(row.id)))
            return PhysicianRecord(row.id, unit.lab_id, data)

    def find_by_rpps(self, ctx: AccessContext, rpps: str) -> PhysicianRecord:
        rpps = validate_rpps(rpps)
        with self.gate.lab(ctx, Permission.PHYSICIAN_READ) as unit:
            session, keys = unit.session, unit.keys
            row = physician_by_rpps(session, keys, rpps)
            if row is None:
                raise NotFound("no physician with this RPPS in this laboratory")
            clear = open_physician(keys, row)
            audit.append(session, ctx, AuditRecord("physician.read", "physician", str(row.id)))
            data = PhysicianData(specialty=row.specialty, **clear)  # type: ignore[arg-type]
            return PhysicianRecord(row.id, row.lab_id, data)

    def get(self, ctx: AccessContext, physician_id: uuid.UUID) -> PhysicianRecord:
        """One prescriber by id (a channel's reference to them, FHIR's Practitioner)."""
        with self.gate.lab(ctx, Permission.PHYSICIAN_READ) as unit:
            row = unit.session.get(Physician, physician_id)
            if row is None:
                raise NotFound(f"no physician {physician_id} in this laboratory")
            clear = open_physician(unit.keys, row)
            audit.append(unit.session, ctx, AuditRecord("physician.read", "physician", str(row.id)))
            data = PhysicianData(specialty=row.specialty, **clear)  # type: ignore[arg-type]
            return PhysicianRecord(row.id, row.lab_id, data)


def physician_by_rpps(session: Session, keys: LabKeySet, rpps: str) -> Physician | None:
    """The lab's physician with this (validated) RPPS: blind-index candidates, confirmed decrypted."""
    index = rpps_index(keys, rpps)
    for row in session.scalars(select(Physician).where(Physician.rpps_bidx == index)):
        if open_rpps(keys, row) == rpps:
            return row
    return None
