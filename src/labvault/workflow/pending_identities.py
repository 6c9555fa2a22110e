"""Pending identities: patients an order-sending interface named that no one here matched
(interop/order_intake.py). The interface may not vouch for an identity, so reception checks each
one (identity vigilance: papers, the INS teleservice) and either confirms it, or merges it into
the patient it turns out to be, moving its orders there. Until then the identity is marked
pending (``patients.identity_pending``), listed here with its possible duplicates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from labvault.errors import Conflict, InvalidInput, NotFound
from labvault.identity import patient_codec as codec
from labvault.identity.models import Patient
from labvault.identity.patient_data import PatientRecord
from labvault.keys.store import KeyStore
from labvault.security import audit, policy
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate, LabUnit
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.database import Database
from labvault.workflow.models import Order

OBJECT = "patient"
MERGED_AWAY = "patient.merged_away"  # the pending record's last event: ``into`` names who it was
MAX_LISTED = 200


@dataclass(frozen=True)
class PendingIdentity:
    record: PatientRecord
    orders: int
    possible_matches: tuple[uuid.UUID, ...]  # confirmed patients with the same name and birth date


class PendingIdentityService:
    def __init__(self, db: Database, keys: KeyStore) -> None:
        self.gate = Gate(db, keys)

    def list(self, ctx: AccessContext) -> list[PendingIdentity]:
        """The lab's pending identities, oldest first, each with its orders' count and the
        confirmed patients it may duplicate (same name and birth date); every patient shown is
        audited, as a search hit."""
        with self.gate.read(ctx, Permission.PATIENT_READ) as unit:
            rows = unit.session.scalars(
                select(Patient)
                .where(Patient.identity_pending.is_(True))
                .order_by(Patient.created_at)
                .limit(MAX_LISTED)
            ).all()
            found: list[PendingIdentity] = []
            for row in rows:
                record = codec.decode(unit.keys, row)
                orders = len(unit.session.scalars(select(Order.id).where(Order.patient_id == row.id)).all())
                found.append(PendingIdentity(record, orders, _matches(unit, record)))
            shown = [str(p.record.id) for p in found] + [str(m) for p in found for m in p.possible_matches]
            audit.append_many(
                unit.session,
                ctx,
                [
                    AuditRecord("patient.pending_list", OBJECT, None, {"results": len(found)}),
                    *[
                        AuditRecord("patient.search_hit", OBJECT, pid, patient_id=uuid.UUID(pid))
                        for pid in dict.fromkeys(shown)
                    ],
                ],
            )
            return found

    def confirm(self, ctx: AccessContext, patient_id: uuid.UUID) -> PatientRecord:
        """Reception checked this identity: it is a patient like any other from now on."""
        with self.gate.lab(ctx, Permission.PATIENT_WRITE) as unit:
            row = _pending_row(unit, patient_id)
            row.identity_pending = False
            row.revision += 1
            row.updated_at = utcnow()
            unit.session.flush()
            audit.append(
                unit.session,
                ctx,
                AuditRecord("patient.identity_confirm", OBJECT, str(row.id), patient_id=row.id),
            )
            return codec.decode(unit.keys, row)

    def merge(self, ctx: AccessContext, patient_id: uuid.UUID, into: uuid.UUID) -> int:
        """This pending identity is the patient ``into``: its orders move there (their links
        re-sealed) and the pending record is deleted. The patient ``into`` keeps its identity as
        registered. The number of orders moved."""
        if patient_id == into:
            raise InvalidInput("into", "is the pending identity itself")
        with self.gate.lab(ctx, Permission.PATIENT_WRITE) as unit:
            policy.enforce(ctx, Permission.ORDER_WRITE)
            audit.lock_chain(unit.session, ctx)
            row = _pending_row(unit, patient_id)
            target = unit.session.get(Patient, into)
            if target is None:
                raise NotFound(f"no patient {into} in this laboratory")
            if target.identity_pending:
                raise Conflict("merge into a confirmed patient: confirm that identity first")
            orders = unit.session.scalars(select(Order).where(Order.patient_id == row.id)).all()
            for order in orders:
                order.patient_id = target.id  # re-sealed at flush (store/bound_links.py)
            unit.session.flush()
            unit.session.delete(row)
            unit.session.flush()
            detail = {"from": str(row.id), "into": str(target.id), "orders": len(orders)}
            audit.append_many(
                unit.session,
                ctx,
                [
                    AuditRecord("patient.merge", OBJECT, str(target.id), detail, patient_id=target.id),
                    AuditRecord(MERGED_AWAY, OBJECT, str(row.id), detail, patient_id=row.id),
                ],
            )
            return len(orders)


def _pending_row(unit: LabUnit, patient_id: uuid.UUID) -> Patient:
    row = unit.session.get(Patient, patient_id)
    if row is None or not row.identity_pending:
        raise NotFound(f"no pending identity {patient_id} in this laboratory")
    return row


def _matches(unit: LabUnit, record: PatientRecord) -> tuple[uuid.UUID, ...]:
    """Confirmed patients with the pending one's birth (or used) name and birth date."""
    data = record.data
    target = codec.name_birth_key(data.birth_name, data.birth_date)
    index = codec.name_birth_index(unit.keys, data.birth_name, data.birth_date)
    found: list[uuid.UUID] = []
    for column in (Patient.name_birth_bidx, Patient.used_name_birth_bidx):  # one index at a time
        for row in unit.session.scalars(
            select(Patient).where(column == index, Patient.identity_pending.is_(False)).limit(20)
        ):
            other = codec.decode(unit.keys, row).data
            names = [other.birth_name, *([other.used_name] if other.used_name else [])]
            if row.id not in found and any(
                codec.name_birth_key(n, other.birth_date) == target for n in names
            ):
                found.append(row.id)
    return tuple(found)
