"""Canary patients: planting them, and recognising them in what the audit log records.

A canary is registered through the ordinary patient service, so its row, its ciphertexts, its blind
indexes and its API representation are those of any patient; only the ``canaries`` table (served
by no API route) tells it apart. Any audit event that names one, other than its own creation,
raises a high alert from the audit choke point (security/access_watch.py).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labvault.demo.synthetic import SyntheticPatient, synthetic_patients
from labvault.errors import Conflict, InvalidInput
from labvault.identity.patient_data import PatientData
from labvault.identity.patient_service import PatientService
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.canary_models import Canary
from labvault.security.permissions import Permission, require_lab
from labvault.store.base import utcnow
from labvault.store.database import Database

MAX_PLANT = 100
CHUNK = 500


@dataclass(frozen=True)
class CanaryInfo:
    id: uuid.UUID
    patient_id: uuid.UUID
    planted_at: dt.datetime
    label: str


def canaries_among(session: Session, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Which of these patients (of the session's lab) are canaries: patient id -> canary id.
    One indexed query per 500 patients."""
    wanted = list(set(patient_ids))
    found: dict[uuid.UUID, uuid.UUID] = {}
    for start in range(0, len(wanted), CHUNK):
        query = select(Canary.patient_id, Canary.id).where(
            Canary.patient_id.in_(wanted[start : start + CHUNK])
        )
        found.update((row.patient_id, row.id) for row in session.execute(query))
    return found


def canary_identity(person: SyntheticPatient) -> PatientData:
    """A synthetic identity that looks like a lab's ordinary patient: a valid NIR, a French name,
    birthplace and address, a phone; no INS (the synthetic ones carry the test OID, a giveaway) and
    no e-mail (the synthetic ones use the RFC 2606 example domains, another)."""
    return PatientData(
        birth_name=person.birth_name,
        first_names=person.first_names,
        sex=person.sex,
        birth_date=person.birth_date,
        used_name=person.used_name,
        birthplace_insee=person.birthplace_insee,
        nir=person.nir,
        address=person.address,
        phone=person.phone,
    )


class CanaryService:
    def __init__(self, db: Database, patients: PatientService) -> None:
        self.db = db
        self.patients = patients

    def plant(self, ctx: AccessContext, count: int, label: str, seed: int | None = None) -> list[CanaryInfo]:
        """Register ``count`` synthetic patients one by one (each its own registration time, as a
        real patient's) and record each as a canary right after it is registered."""
        require_lab(ctx, Permission.CANARIES_MANAGE)
        if not 1 <= count <= MAX_PLANT:
            raise InvalidInput("count", f"must be 1 to {MAX_PLANT}")
        label = " ".join(label.split())
        if not 1 <= len(label) <= 100:
            raise InvalidInput("label", "must be 1 to 100 characters")
        seed = random.SystemRandom().randrange(1 << 62) if seed is None else seed
        planted: list[CanaryInfo] = []
        for person in synthetic_patients(count * 3, seed):
            if len(planted) == count:
                break
            try:
                record = self.patients.register(ctx, canary_identity(person))
            except Conflict:
                continue  # a homonym of a patient of the lab: draw another identity
            planted.append(self._record(ctx, record.id, label))
        if len(planted) < count:
            raise Conflict(f"planted {len(planted)} of {count} canaries: too many homonyms, run again")
        return planted

    def _record(self, ctx: AccessContext, patient_id: uuid.UUID, label: str) -> CanaryInfo:
        assert ctx.lab_id is not None
        with self.db.transaction(ctx.lab_id) as session:
            row = Canary(id=uuid.uuid4(), lab_id=ctx.lab_id, patient_id=patient_id, planted_at=utcnow())
            row.label = label
            session.add(row)
            session.flush()
            # Names the canary, not its patient: the event must not itself look like an access.
            audit.append(session, ctx, AuditRecord("canary.plant", "canary", str(row.id), {"label": label}))
            return CanaryInfo(row.id, patient_id, row.planted_at, label)

    def list(self, ctx: AccessContext) -> Sequence[CanaryInfo]:
        require_lab(ctx, Permission.CANARIES_MANAGE)
        assert ctx.lab_id is not None
        with self.db.transaction(ctx.lab_id) as session:
            rows = session.scalars(select(Canary).order_by(Canary.planted_at)).all()
            audit.append(
                session, ctx, AuditRecord("canary.list", "lab", str(ctx.lab_id), {"count": len(rows)})
            )
            return [CanaryInfo(r.id, r.patient_id, r.planted_at, r.label) for r in rows]
