"""Laboratories (tenants): created and shredded by platform operators; key rotation by lab admins."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.orm import Session

from labvault.errors import Conflict, InvalidInput, NotFound
from labvault.identity.models import Lab
from labvault.identity.validation import validate_finess
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext, Role
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.security.policy import require, require_lab_object
from labvault.store.base import utcnow
from labvault.store.database import Database

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,15}$")


@dataclass(frozen=True)
class LabInfo:
    id: uuid.UUID
    code: str
    name: str
    finess: str
    shredded: bool


def _info(lab: Lab) -> LabInfo:
    return LabInfo(lab.id, lab.code, lab.name, lab.finess, lab.shredded_at is not None)


def lab_code_of(session: Session, lab_id: uuid.UUID) -> str | None:
    """The lab's code, in the caller's transaction (the alert webhook names the lab by it)."""
    lab = session.get(Lab, lab_id)
    return lab.code if lab else None


class LabService:
    def __init__(self, db: Database, keys: KeyStore) -> None:
        self.keys = keys
        self.gate = Gate(db, keys)

    def create(self, ctx: AccessContext, code: str, name: str, finess: str) -> LabInfo:
        """A new tenant with its own key set and audit chain."""
        require(ctx, Permission.LAB_MANAGE)
        code = code.strip().upper()
        if not CODE_PATTERN.match(code):
            raise InvalidInput("code", "must be 2-16 letters, digits or dashes")
        name = " ".join(name.split())
        if not 2 <= len(name) <= 200:
            raise InvalidInput("name", "must be 2 to 200 characters")
        finess = validate_finess(finess)
        lab_id = uuid.uuid4()
        try:
            with self.gate.platform(ctx, Permission.LAB_MANAGE) as session:
                if session.scalar(select(Lab.id).where((Lab.code == code) | (Lab.finess == finess))):
                    raise Conflict("a laboratory with this code or FINESS already exists")
                lab = Lab(id=lab_id, code=code, name=name, finess=finess)
                session.add(lab)
                session.flush()
                self.keys.create_lab_keys(session, lab_id)
                audit.create_chain(session, str(lab_id))
                audit.append(session, ctx, AuditRecord("lab.create", "lab", str(lab_id), {"code": code}))
        except DbIntegrityError:
            self.keys.provider.destroy_lab_kek(lab_id)
            raise Conflict("a laboratory with this code or FINESS already exists") from None
        except Exception:
            self.keys.provider.destroy_lab_kek(lab_id)
            raise
        return _info(lab)

    def list(self, ctx: AccessContext) -> list[LabInfo]:
        """Operators see every lab; lab staff see their own."""
        with self.gate.lookup() as session:
            query = select(Lab).order_by(Lab.code)
            if ctx.role is not Role.PLATFORM_OPERATOR:
                query = query.where(Lab.id == ctx.lab_id)
            return [_info(lab) for lab in session.scalars(query)]

    def by_code(self, code: str) -> LabInfo:
        """Resolve a lab code (CLI, configuration): not personal data, no audit needed."""
        with self.gate.lookup() as session:
            lab = session.scalar(select(Lab).where(Lab.code == code.strip().upper()))
            if lab is None:
                raise NotFound(f"no laboratory with code {code.strip().upper()!r}")
            return _info(lab)

    def get(self, ctx: AccessContext, lab_id: uuid.UUID) -> LabInfo:
        require_lab_object(ctx, lab_id, f"laboratory {lab_id}")
        with self.gate.lookup() as session:
            lab = session.get(Lab, lab_id)
            if lab is None:
                raise NotFound(f"no laboratory {lab_id}")
            return _info(lab)

    def rotate_keys(self, ctx: AccessContext, lab_id: uuid.UUID) -> int:
        """New data key version for a lab; old ciphertexts stay readable until re-encrypted."""
        with self.gate.platform(ctx, Permission.KEYS_MANAGE, lab_id=lab_id) as session:
            if session.get(Lab, lab_id) is None:
                raise NotFound(f"no laboratory {lab_id}")
            version = self.keys.rotate(session, lab_id)
            audit.append(session, ctx, AuditRecord("keys.rotate", "lab", str(lab_id), {"version": version}))
        return version

    def shred(self, ctx: AccessContext, lab_id: uuid.UUID) -> None:
        """Crypto-shred a laboratory: its key set is destroyed, its ciphertexts become noise."""
        with self.gate.platform(ctx, Permission.LAB_MANAGE) as session:
            lab = session.get(Lab, lab_id)
            if lab is None:
                raise NotFound(f"no laboratory {lab_id}")
            lab.shredded_at = utcnow()
            self.keys.destroy(session, lab_id)
            audit.append(session, ctx, AuditRecord("lab.shred", "lab", str(lab_id)))
        self.keys.destroy_kek(lab_id)  # only once the deletion and its audit event are committed
