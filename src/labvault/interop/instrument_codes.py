"""Mapping an interface's own test codes to the lab's catalogue (interop/instrument_models.py):
set, remove and list by the lab's biologists and admins (who manage its catalogue), audited; read
by the intake for every message, before the catalogue's own codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labvault.catalog.service import CatalogService
from labvault.errors import InvalidInput, NotFound
from labvault.identity.interface_accounts import interface_of_lab
from labvault.interop.instrument_models import InstrumentCode
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.database import Database

MAX_CODE = 64


@dataclass(frozen=True)
class CodeMapping:
    interface: str  # the interface account's username
    code: str
    test_code: str


def instrument_codes(session: Session, account_id: uuid.UUID) -> dict[str, str]:
    """The interface's codes (upper case) and their tests, in the session's lab."""
    rows = session.execute(
        select(InstrumentCode.code, InstrumentCode.test_code).where(InstrumentCode.account_id == account_id)
    )
    return {code.upper(): test for code, test in rows}


class InstrumentCodeService:
    def __init__(self, db: Database, catalogs: CatalogService) -> None:
        self.gate = Gate(db)
        self.catalogs = catalogs

    def set(self, ctx: AccessContext, interface: str, code: str, test_code: str) -> CodeMapping:
        """``code`` sent by ``interface`` now means ``test_code`` (replacing any earlier mapping)."""
        code, test_code = _clean(code), test_code.strip().upper()
        with self.gate.lab_rows(ctx, Permission.CATALOG_MANAGE) as lab:
            catalog = self.catalogs.active_in(lab.session, lab.lab_id)
            if catalog.get(test_code) is None:
                raise InvalidInput("test_code", f"not in catalogue {catalog.version}")
            account_id = interface_of_lab(lab.session, lab.lab_id, interface).id
            lab.session.execute(
                delete(InstrumentCode).where(
                    InstrumentCode.account_id == account_id, InstrumentCode.code == code
                )
            )
            lab.session.add(
                InstrumentCode(lab_id=lab.lab_id, account_id=account_id, code=code, test_code=test_code)
            )
            detail = {"interface": str(account_id), "code": code, "test": test_code}
            audit.append(lab.session, ctx, AuditRecord("interface.code_map", "user", str(account_id), detail))
        return CodeMapping(interface, code, test_code)

    def remove(self, ctx: AccessContext, interface: str, code: str) -> None:
        code = _clean(code)
        with self.gate.lab_rows(ctx, Permission.CATALOG_MANAGE) as lab:
            account_id = interface_of_lab(lab.session, lab.lab_id, interface).id
            removed = lab.session.execute(
                delete(InstrumentCode).where(
                    InstrumentCode.account_id == account_id, InstrumentCode.code == code
                )
            )
            if not removed.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"no mapping of {code} for {interface}")
            detail = {"interface": str(account_id), "code": code}
            audit.append(
                lab.session, ctx, AuditRecord("interface.code_unmap", "user", str(account_id), detail)
            )

    def list(self, ctx: AccessContext, interface: str) -> list[CodeMapping]:
        with self.gate.lab_rows(ctx, Permission.CATALOG_MANAGE) as lab:
            codes = instrument_codes(lab.session, interface_of_lab(lab.session, lab.lab_id, interface).id)
        return [CodeMapping(interface, code, test) for code, test in sorted(codes.items())]


def _clean(code: str) -> str:
    code = code.strip().upper()
    if not code or len(code) > MAX_CODE:
        raise InvalidInput("code", f"1 to {MAX_CODE} characters")
    return code
