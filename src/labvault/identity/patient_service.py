"""Patient registration, lookup and update: authorised, encrypted, and audited in one transaction.

A prescriber reads the identity of the patients they prescribed for (at least one order of
theirs), finds only those by search, and writes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, insert, select, true, update
from sqlalchemy.orm import Session

from labvault.crypto.keyset import LabKeySet
from labvault.errors import Conflict, InvalidInput, NotFound
from labvault.identity import patient_codec as codec
from labvault.identity.models import Patient
from labvault.identity.patient_data import FIELD_NAMES, PatientData, PatientRecord, validate_patient
from labvault.identity.prescribed import PrescribedPatients
from labvault.identity.validation import normalize_nir
from labvault.keys.store import KeyStore
from labvault.security import audit, policy
from labvault.security.access import AccessContext, Role
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.security.policy import Relationship
from labvault.store.base import utcnow
from labvault.store.database import Database, prefer_custom_plans

OBJECT = "patient"
MAX_RESULTS = 50


@dataclasses.dataclass(frozen=True)
class Duplicate:
    """An existing patient that a new registration collides with, and on what."""

    patient_id: uuid.UUID
    reason: str  # "nir" or "name_birth_date"


def _hits(patient_ids: list[str]) -> list[AuditRecord]:
    """One event per patient a search or a refusal showed, so each patient's access log and the
    read budgets see it."""
    return [AuditRecord("patient.search_hit", OBJECT, pid, patient_id=uuid.UUID(pid)) for pid in patient_ids]


class PatientService:
    def __init__(self, db: Database, keys: KeyStore, prescribed: PrescribedPatients) -> None:
        self.keys = keys
        self.prescribed = prescribed
        self.gate = Gate(db, keys)

    def _prescribed_for(self, ctx: AccessContext) -> ColumnElement[bool]:
        """A condition on :class:`Patient`: every patient of the lab for its staff; for a prescriber,
        the patients with at least one order they prescribed (identity/prescribed.py)."""
        physician = policy.prescriber_of(ctx)
        return true() if physician is None else self.prescribed.condition(physician)

    def _check_prescribed(
        self, session: Session, keys: LabKeySet, ctx: AccessContext, patient_ids: list[uuid.UUID]
    ) -> None:
        """For a prescriber, check the seals of the orders that tied them to ``patient_ids``."""
        physician = policy.prescriber_of(ctx)
        if physician is not None and patient_ids:
            self.prescribed.verify(session, keys, physician, patient_ids)

    @contextmanager
    def _lab(
        self, ctx: AccessContext, permission: Permission, *, per_patient: bool = False
    ) -> Iterator[tuple[Session, LabKeySet]]:
        """The gate's lab unit (security/gate.py). ``per_patient``: a read held to
        :meth:`_prescribed_for` (a prescriber passes the gate, then sees only their patients)."""
        with self.gate.lab(ctx, permission, own_orders=per_patient) as unit:
            yield unit.session, unit.keys

    @contextmanager
    def _read(self, ctx: AccessContext) -> Iterator[tuple[Session, LabKeySet]]:
        """A read unit (read-only, its events group-committed: security/gate.py ``Gate.read``),
        held to :meth:`_prescribed_for` like a ``per_patient`` :meth:`_lab`."""
        with self.gate.read(ctx, Permission.PATIENT_READ, own_orders=True) as unit:
            yield unit.session, unit.keys

    # --- duplicates -------------------------------------------------------------------------------

    def _duplicates(self, session: Session, keys: LabKeySet, data: PatientData) -> list[Duplicate]:
        """Candidates by blind index, confirmed on decrypted values (indexes are truncated)."""
        found: list[Duplicate] = []
        if data.nir:
            for row in session.scalars(
                select(Patient).where(Patient.nir_bidx == codec.nir_index(keys, data.nir))
            ):
                if codec.decode(keys, row).data.nir == data.nir:
                    found.append(Duplicate(row.id, "nir"))
        index = codec.name_birth_index(keys, data.birth_name, data.birth_date)
        rows = _union(
            session, [Patient.name_birth_bidx == index, Patient.used_name_birth_bidx == index], None
        )
        target = codec.name_birth_key(data.birth_name, data.birth_date)
        for row in rows:
            if _has_name_birth(codec.decode(keys, row).data, target) and not any(
                d.patient_id == row.id for d in found
            ):
                found.append(Duplicate(row.id, "name_birth_date"))
        return found

    # --- writes -----------------------------------------------------------------------------------

    def register(
        self, ctx: AccessContext, data: PatientData, *, accept_homonym: bool = False
    ) -> PatientRecord:
        """Register one patient. Same NIR: refused. Same name + birth date: refused unless the
        caller confirms a homonym (a different person) with ``accept_homonym``."""
        try:
            return self._register(ctx, validate_patient(data), accept_homonym)
        except Conflict as refused:
            # A refusal names existing patients: it is a lookup, so it is audited like one.
            self._audit_refusal(ctx, "patient.register_refused", refused)
            raise

    def _audit_refusal(self, ctx: AccessContext, action: str, refused: Conflict) -> None:
        with self._lab(ctx, Permission.PATIENT_WRITE) as (session, _keys):
            audit.append_many(
                session,
                ctx,
                [
                    AuditRecord(action, OBJECT, None, {"matches": refused.existing_ids}),
                    *_hits(refused.existing_ids),
                ],
            )

    def _register(self, ctx: AccessContext, data: PatientData, accept_homonym: bool) -> PatientRecord:
        with self._lab(ctx, Permission.PATIENT_WRITE) as (session, keys):
            audit.lock_chain(session, ctx)
            duplicates = self._duplicates(session, keys, data)
            blocking = [d for d in duplicates if d.reason == "nir" or not accept_homonym]
            if blocking:
                reasons = sorted({d.reason for d in blocking})
                raise Conflict(
                    "possible duplicate: a patient with the same "
                    + " and the same ".join("NIR" if r == "nir" else "name and birth date" for r in reasons)
                    + " is already registered",
                    [str(d.patient_id) for d in blocking],
                )
            row_id = uuid.uuid4()
            now = utcnow()
            row = Patient(id=row_id, lab_id=ctx.lab_id, created_at=now, updated_at=now, revision=1)
            for column, value in codec.encrypted_columns(keys, row_id, data).items():
                setattr(row, column, value)
            session.add(row)
            session.flush()
            audit.append(
                session,
                ctx,
                AuditRecord(
                    "patient.create",
                    OBJECT,
                    str(row_id),
                    {"homonym_confirmed": bool(duplicates)},
                    patient_id=row_id,
                ),
            )
            return codec.decode(keys, row)

    def register_many(self, ctx: AccessContext, items: Sequence[PatientData]) -> list[uuid.UUID]:
        """Bulk registration (imports, demo): one transaction, all or nothing. Any NIR already
        known or repeated in the batch refuses the whole batch, naming the item."""
        validated = [_validate_item(position, item) for position, item in enumerate(items)]
        with self._lab(ctx, Permission.PATIENT_WRITE) as (session, keys):
            prefer_custom_plans(session)
            audit.lock_chain(session, ctx)
            seen: dict[bytes, int] = {}
            for position, data in enumerate(validated):
                if data.nir:
                    index = codec.nir_index(keys, data.nir)
                    if index in seen:
                        raise Conflict(f"item {position}: same NIR as item {seen[index]} of the batch")
                    seen[index] = position
            existing = self._existing_nir_indexes(session, list(seen))
            if existing:
                first = min(seen[index] for index in existing)
                raise Conflict(f"item {first}: a patient with the same NIR is already registered")
            now = utcnow()
            rows: list[dict[str, Any]] = []
            for data in validated:
                row_id = uuid.uuid4()
                values = codec.encrypted_columns(keys, row_id, data)
                values.update(id=row_id, lab_id=ctx.lab_id, created_at=now, updated_at=now, revision=1)
                rows.append(values)
            if rows:
                session.execute(insert(Patient), rows)
            audit.append_many(
                session,
                ctx,
                [
                    AuditRecord("patient.create", OBJECT, str(r["id"]), {"bulk": True}, patient_id=r["id"])
                    for r in rows
                ],
            )
            return [r["id"] for r in rows]

    def _existing_nir_indexes(self, session: Session, indexes: list[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(indexes), 500):
            chunk = indexes[start : start + 500]
            found.update(
                i for i in session.scalars(select(Patient.nir_bidx).where(Patient.nir_bidx.in_(chunk))) if i
            )
        return found

    def update(
        self,
        ctx: AccessContext,
        patient_id: uuid.UUID,
        changes: dict[str, Any],
        expected_revision: int | None = None,
    ) -> PatientRecord:
        """Change some fields; the record is re-validated whole and re-encrypted."""
        unknown = set(changes) - set(FIELD_NAMES)
        if unknown:
            raise InvalidInput(sorted(unknown)[0], "is not a patient field")
        for name in ("birth_name", "first_names", "sex", "birth_date"):
            if name in changes and changes[name] is None:
                raise InvalidInput(name, "is required and cannot be cleared")
        with self._lab(ctx, Permission.PATIENT_WRITE) as (session, keys):
            audit.lock_chain(session, ctx)
            row = self._row(session, patient_id)
            if expected_revision is not None and expected_revision != row.revision:
                raise Conflict(f"the record changed since revision {expected_revision} (now {row.revision})")
            current = codec.decode(keys, row).data
            data = validate_patient(dataclasses.replace(current, **changes))
            if data.nir and data.nir != current.nir:
                clash = [
                    d
                    for d in self._duplicates(session, keys, data)
                    if d.reason == "nir" and d.patient_id != row.id
                ]
                if clash:
                    raise Conflict(
                        "a patient with this NIR is already registered", [str(d.patient_id) for d in clash]
                    )
            changed = sorted(name for name in FIELD_NAMES if getattr(data, name) != getattr(current, name))
            values = codec.encrypted_columns(keys, row.id, data)
            values.update(revision=row.revision + 1, updated_at=utcnow())
            written = session.execute(
                update(Patient).where(Patient.id == row.id, Patient.revision == row.revision).values(**values)
            )
            if not written.rowcount:  # type: ignore[attr-defined]
                raise Conflict(f"the record changed since revision {row.revision}")
            audit.append(
                session,
                ctx,
                AuditRecord("patient.update", OBJECT, str(row.id), {"fields": changed}, patient_id=row.id),
            )
            session.expire(row)
            return codec.decode(keys, self._row(session, patient_id))

    # --- reads ------------------------------------------------------------------------------------

    def _row(self, session: Session, patient_id: uuid.UUID) -> Patient:
        row = session.get(Patient, patient_id, populate_existing=True)
        if row is None:
            raise NotFound(f"no patient {patient_id} in this laboratory")
        return row

    def get(self, ctx: AccessContext, patient_id: uuid.UUID) -> PatientRecord:
        """One identity; for a prescriber, of a patient they prescribed for (403 otherwise)."""
        with self._read(ctx) as (session, keys):
            row = self._row(session, patient_id)
            if ctx.role is Role.PRESCRIBER:
                prescribed = session.scalar(
                    select(Patient.id).where(Patient.id == row.id, self._prescribed_for(ctx))
                )
                relationship = Relationship.NONE if prescribed is None else Relationship.PRESCRIBER
                policy.enforce(ctx, Permission.PATIENT_READ, relationship=relationship)
                self._check_prescribed(session, keys, ctx, [row.id])
            record = codec.decode(keys, row)
            audit.append(
                session, ctx, AuditRecord("patient.read", OBJECT, str(patient_id), patient_id=patient_id)
            )
            return record

    def _search(
        self,
        ctx: AccessContext,
        by: str,
        conditions: Callable[[LabKeySet], list[ColumnElement[bool]]],
        confirm: Callable[[PatientData], bool],
    ) -> list[PatientRecord]:
        """Blind-index candidates, confirmed on decrypted values; one transaction, one audit event.
        A prescriber finds only the patients they prescribed for."""
        with self._read(ctx) as (session, keys):
            rows = _union(session, conditions(keys), MAX_RESULTS + 1, self._prescribed_for(ctx))
            records = [r for r in (codec.decode(keys, row) for row in rows) if confirm(r.data)][:MAX_RESULTS]
            self._check_prescribed(session, keys, ctx, [r.id for r in records])
            audit.append_many(
                session,
                ctx,
                [
                    AuditRecord(
                        "patient.search", OBJECT, None, {"by": by, "results": [str(r.id) for r in records]}
                    ),
                    *_hits([str(r.id) for r in records]),
                ],
            )
            return records

    def find_by_nir(self, ctx: AccessContext, nir: str) -> list[PatientRecord]:
        nir = normalize_nir(nir)
        return self._search(
            ctx, "nir", lambda keys: [Patient.nir_bidx == codec.nir_index(keys, nir)], lambda d: d.nir == nir
        )

    def find_by_ins(self, ctx: AccessContext, ins: str) -> list[PatientRecord]:
        ins = normalize_nir(ins, field="ins")
        return self._search(
            ctx, "ins", lambda keys: [Patient.ins_bidx == codec.ins_index(keys, ins)], lambda d: d.ins == ins
        )

    def find_by_name_birth(self, ctx: AccessContext, name: str, birth_date: dt.date) -> list[PatientRecord]:
        """Matches the birth name or the used name, accents and hyphens ignored."""
        target = codec.name_birth_key(name, birth_date)

        def conditions(keys: LabKeySet) -> list[ColumnElement[bool]]:
            index = codec.name_birth_index(keys, name, birth_date)
            return [Patient.name_birth_bidx == index, Patient.used_name_birth_bidx == index]

        return self._search(ctx, "name_birth_date", conditions, lambda d: _has_name_birth(d, target))


def _union(
    session: Session,
    conditions: list[ColumnElement[bool]],
    limit: int | None,
    scope: ColumnElement[bool] | None = None,
) -> list[Patient]:
    """Rows matching any condition (and ``scope``), one indexed query each: an ``OR`` across two
    blind-index columns makes SQLite scan the whole lab instead of using either index."""
    found: dict[uuid.UUID, Patient] = {}
    for condition in conditions:
        query = select(Patient).where(condition)
        if scope is not None:
            query = query.where(scope)
        if limit is not None:
            query = query.limit(limit)
        for row in session.scalars(query):
            found.setdefault(row.id, row)
    rows = list(found.values())
    return rows if limit is None else rows[:limit]


def _has_name_birth(data: PatientData, target: str) -> bool:
    """Does the birth name or the used name, with the birth date, give this lookup key?"""
    names = [data.birth_name, *([data.used_name] if data.used_name else [])]
    return any(codec.name_birth_key(name, data.birth_date) == target for name in names)


def _validate_item(position: int, data: PatientData) -> PatientData:
    """Validation errors of a batch name the item, so an import can point at the line."""
    try:
        return validate_patient(data)
    except InvalidInput as exc:
        raise InvalidInput(f"items[{position}].{exc.field}", exc.reason) from None
