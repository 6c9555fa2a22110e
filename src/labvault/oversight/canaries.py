"""Canary patients: planting them, and recognising them in what the audit log records.

A canary is registered through the ordinary patient service, so its row, its ciphertexts, its blind
indexes and its API representation are those of any patient. Only the ``canaries`` table (served
by no API route) tells it apart, and only to someone holding the lab's keys: it stores a keyed
blind index of the patient id (keyed BLAKE2b-128, its key derived from the lab's index key) and
the id and planting time sealed. Any audit event that names one, other than its own creation, raises a
high alert from the audit choke point (oversight/access_watch.py): the check computes the index of
each patient the events name (with the key set the transaction already loaded) and looks the
indexes up in one indexed query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.orm import Session

from labvault.crypto.errors import IntegrityError
from labvault.crypto.keyset import LabKeySet
from labvault.errors import Conflict, InvalidInput
from labvault.identity.patient_data import PatientData
from labvault.identity.patient_service import PatientService
from labvault.identity.synthetic import SyntheticPatient, synthetic_patients
from labvault.keys.store import SESSION_KEYSETS, KeyStore
from labvault.oversight.canary_models import INDEX_BYTES, Canary
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord, AuditUnavailable
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.security.policy import require_lab
from labvault.store.base import utcnow
from labvault.store.database import Database
from labvault.store.sealed_fields import SealedColumns
from labvault.store.tenancy import LAB_KEY

MAX_PLANT = 100


@dataclass(frozen=True)
class CanaryInfo:
    id: uuid.UUID
    patient_id: uuid.UUID
    planted_at: dt.datetime
    label: str


INDEX = "canary.patient"
PLANTED = "labvault.planted_canaries"  # the lab's canary indexes, read once per transaction
SEALED = SealedColumns(Canary, "patient_id", "planted_at")  # the canary's sealed fields
_KEY_STORES: weakref.WeakKeyDictionary[Engine, KeyStore] = weakref.WeakKeyDictionary()


def use_key_store(db: Database, keys: KeyStore) -> None:
    """Where the canary check finds a lab's keys when the transaction has not loaded them yet
    (installed by open_platform, like the monitor)."""
    for engine in {db.engine, db.owner_engine}:
        _KEY_STORES[engine] = keys


def index_key(keys: LabKeySet) -> bytes:
    """The lab's canary index key: 256 bits derived from its blind-index key (HMAC-SHA256 under the
    index's own HKDF sub-key), never stored."""
    return keys.indexer.index(INDEX, "key v1", bits=256)


def canary_index(keys: LabKeySet, patient_id: uuid.UUID, key: bytes | None = None) -> bytes:
    """Keyed BLAKE2b-128 of the patient id: a PRF, four times cheaper than an HMAC per patient (a
    500-patient worklist pays ~1 ms, not ~4); ``key`` from :func:`index_key`, once per batch."""
    digest = hashlib.blake2b(patient_id.bytes, key=key or index_key(keys), digest_size=INDEX_BYTES)
    return digest.digest()


def _session_keys(session: Session) -> LabKeySet:
    """The keys of the session's lab: those its transaction loaded, else from the key store. No
    key store: the check cannot run, so the access it watches fails (no audit, no data)."""
    lab_id = session.info.get(LAB_KEY)
    if lab_id is None:
        raise AuditUnavailable("the canary check needs a laboratory's transaction")
    loaded: LabKeySet | None = session.info.get(SESSION_KEYSETS, {}).get(lab_id)
    if loaded is not None:
        return loaded
    bind = session.get_bind()
    store = _KEY_STORES.get(bind.engine if isinstance(bind, Connection) else bind)
    if store is None:
        raise AuditUnavailable("the canary check has no key store (open the platform with open_platform)")
    return store.keyset(session, lab_id)


def canaries_among(
    session: Session, patient_ids: Iterable[uuid.UUID], keys: LabKeySet | None = None
) -> dict[uuid.UUID, uuid.UUID]:
    """Which of these patients (of the session's lab) are canaries: patient id -> canary id.
    One keyed hash per patient; the lab's canaries are read once per transaction (a group commit
    checks a whole group's reads against them: security/audit_group.py)."""
    patients = list(set(patient_ids))
    if not patients:
        return {}
    keys = keys or _session_keys(session)
    key = index_key(keys)
    planted = _lab_canaries(session)
    found: dict[uuid.UUID, uuid.UUID] = {}
    for patient_id in patients:
        canary_id = planted.get(canary_index(keys, patient_id, key))
        if canary_id is not None:
            found[patient_id] = canary_id
    return found


_CANARIES = Canary.__table__
# Built once, run on the session's connection with its lab named (the watch runs it on every read
# of a group; row-level security holds it to the lab on PostgreSQL).
_PLANTED_QUERY = select(_CANARIES.c.patient_bidx, _CANARIES.c.id).where(
    _CANARIES.c.lab_id == bindparam("canary_lab")
)


def _lab_canaries(session: Session) -> dict[bytes, uuid.UUID]:
    """The blind indexes of the session's lab's canaries, as of its transaction (one query; a
    canary planted in the transaction drops them: :meth:`CanaryService._record`)."""
    lab_id = session.info.get(LAB_KEY)
    cached: tuple[object, dict[bytes, uuid.UUID]] | None = session.info.get(PLANTED)
    if cached is not None and cached[0] == lab_id:
        return cached[1]
    rows = session.connection().execute(_PLANTED_QUERY, {"canary_lab": lab_id})
    planted = {row.patient_bidx: row.id for row in rows}
    session.info[PLANTED] = (lab_id, planted)
    return planted


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
        self.patients = patients
        self.gate = Gate(db, patients.keys)

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
        with self.gate.lab(ctx, Permission.CANARIES_MANAGE) as unit:
            session, keys = unit.session, unit.keys
            row_id, planted_at = uuid.uuid4(), utcnow()
            clear = {"patient_id": str(patient_id), "planted_at": planted_at.isoformat()}
            row = Canary(
                id=row_id,
                lab_id=unit.lab_id,
                patient_bidx=canary_index(keys, patient_id),
                label=label,
                **SEALED.seal_all(keys.cipher, row_id, clear),
            )
            session.add(row)
            session.flush()
            session.info.pop(PLANTED, None)
            # Names the canary, not its patient: the event must not itself look like an access.
            audit.append(session, ctx, AuditRecord("canary.plant", "canary", str(row.id), {"label": label}))
            return CanaryInfo(row.id, patient_id, planted_at, label)

    def list(self, ctx: AccessContext) -> Sequence[CanaryInfo]:
        with self.gate.lab(ctx, Permission.CANARIES_MANAGE) as unit:
            session, keys = unit.session, unit.keys
            rows = session.scalars(select(Canary)).all()
            audit.append(
                session, ctx, AuditRecord("canary.list", "lab", str(unit.lab_id), {"count": len(rows)})
            )
            listed = [_opened(keys, row) for row in rows]
        return sorted(listed, key=lambda c: c.planted_at)


def _opened(keys: LabKeySet, row: Canary) -> CanaryInfo:
    clear = SEALED.open_all(keys.cipher, row)
    patient_id, planted_at = clear["patient_id"], clear["planted_at"]
    if patient_id is None or planted_at is None:
        raise IntegrityError(f"canary {row.id} has lost its sealed fields")
    info = CanaryInfo(row.id, uuid.UUID(patient_id), dt.datetime.fromisoformat(planted_at), row.label)
    if canary_index(keys, info.patient_id) != row.patient_bidx:
        raise IntegrityError(f"canary {row.id}: its index does not match its sealed patient")
    return info
