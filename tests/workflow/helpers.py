"""A small builder for workflow tests: one lab with a receptionist, a technician and a biologist, adult
(or child) patients, orders whose tubes are received, and shortcuts to enter and validate results.

A test module builds one :class:`Bench` per backend (module-scoped fixture) and gives every test its
own patients and orders, so tests never depend on each other's state.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pypdf
import pytest
import sqlalchemy.exc
from sqlalchemy import func, select

from labvault.identity.lab_service import LabInfo
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_rpps
from labvault.platform import Platform
from labvault.security.access import AccessContext, Role
from labvault.security.models import AuditEvent
from labvault.store.base import Base
from labvault.workflow.order_data import ItemRecord, OrderRecord, OrderRequest, ResultSummary, SpecimenRecord
from labvault.workflow.result_entry import ResultEntry
from tests.conftest import Factory

ADULT_BIRTH = dt.date(1970, 5, 1)


def years_ago(years: int, today: dt.date | None = None) -> dt.date:
    """A birth date ``years`` years before today (28 February for a 29 February)."""
    day = today or dt.datetime.now(dt.UTC).date()
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass
class Bench:
    """One lab and its staff, and what a test needs to push orders through the workflow."""

    factory: Factory
    lab: LabInfo
    reception: AccessContext
    technician: AccessContext
    biologist: AccessContext

    @classmethod
    def create(cls, platform: Platform, name: str = "Laboratoire workflow") -> Bench:
        factory = Factory(platform)
        lab = factory.lab(name)
        return cls(
            factory,
            lab,
            factory.ctx(lab, Role.RECEPTION),
            factory.ctx(lab, Role.TECHNICIAN),
            factory.ctx(lab, Role.BIOLOGIST),
        )

    @property
    def platform(self) -> Platform:
        return self.factory.platform

    # --- people -----------------------------------------------------------------------------------

    def patient(self, *, sex: str = "F", birth_date: dt.date = ADULT_BIRTH, **overrides: Any) -> uuid.UUID:
        """A patient without NIR/INS (the NIR must match sex and birth date, which vary here)."""
        data = self.factory.patient_data(
            birth_date=birth_date, sex=sex, nir=None, ins=None, ins_oid=None, ins_status=None, **overrides
        )
        return self.platform.patients.register(self.reception, data, accept_homonym=True).id

    def child(self, *, sex: str = "M", years: int = 8) -> uuid.UUID:
        return self.patient(sex=sex, birth_date=years_ago(years))

    def physician(
        self, family_name: str = "Prescripteur", given_names: str = "Hippolyte"
    ) -> tuple[uuid.UUID, str]:
        rpps = generate_rpps(random.Random(uuid.uuid4().int))
        data = PhysicianData(rpps=rpps, family_name=family_name, given_names=given_names)
        return self.platform.physicians.register(self.reception, data).id, rpps

    # --- orders and tubes -------------------------------------------------------------------------

    def order(
        self,
        patient_id: uuid.UUID | None = None,
        *,
        tests: Sequence[str] = (),
        panels: Sequence[str] = (),
        receive: bool = True,
        **fields: Any,
    ) -> OrderRecord:
        """An order (for a new adult woman unless ``patient_id``), its tubes received by default."""
        request = OrderRequest(
            patient_id=patient_id or self.patient(), tests=tuple(tests), panels=tuple(panels), **fields
        )
        record = self.platform.orders.create(self.reception, request)
        if receive:
            for specimen in record.specimens:
                self.platform.specimens.receive(self.reception, specimen.barcode)
        return record

    def reject(self, barcode: str, reason: str, comment: str | None = None) -> SpecimenRecord:
        """Reject a tube; its tests move to a replacement tube."""
        try:
            return self.platform.specimens.reject(self.reception, barcode, reason, comment)
        except sqlalchemy.exc.IntegrityError as error:
            pytest.fail(
                "BUG SpecimenService.reject: the order items are moved to the replacement specimen before "
                f"that specimen is inserted (no flush in between), so the foreign key fails: {error.orig}"
            )

    def get(self, order_id: uuid.UUID, ctx: AccessContext | None = None) -> OrderRecord:
        return self.platform.orders.get(ctx or self.biologist, order_id)

    def item(self, order: OrderRecord, code: str) -> ItemRecord:
        return next(i for i in order.items if i.test_code == code)

    def item_id(self, order: OrderRecord, code: str) -> uuid.UUID:
        return self.item(order, code).id

    def result(self, order_id: uuid.UUID, code: str) -> ResultSummary | None:
        """The current result of one test of the order, as the biologist sees it."""
        return self.item(self.get(order_id), code).result

    # --- results ----------------------------------------------------------------------------------

    def enter(
        self,
        order: OrderRecord,
        values: Mapping[str, str],
        ctx: AccessContext | None = None,
        *,
        comments: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> list[ResultSummary]:
        entries = [
            ResultEntry(self.item_id(order, code), value, (comments or {}).get(code), reason)
            for code, value in values.items()
        ]
        return self.platform.results.enter(ctx or self.technician, entries)

    def validate(self, order: OrderRecord, codes: Iterable[str], *, biological: bool = True) -> None:
        """Technical (by the technician, or the biologist for restricted tests) then biological."""
        items = [self.item(order, code) for code in codes]
        plain = [i.id for i in items if not i.restricted]
        restricted = [i.id for i in items if i.restricted]
        if plain:
            self.platform.results.validate_technical(self.technician, plain)
        if restricted:
            self.platform.results.validate_technical(self.biologist, restricted)
        if biological:
            self.platform.results.validate_biological(self.biologist, [i.id for i in items])

    def enter_and_validate(self, order: OrderRecord, values: Mapping[str, str]) -> None:
        restricted = any(self.item(order, code).restricted for code in values)
        self.enter(order, values, self.biologist if restricted else self.technician)
        self.validate(order, values)


# --- below the ORM ------------------------------------------------------------------------------------


def row_count(platform: Platform, model: type[Base], **where: object) -> int:
    """Rows of ``model``'s table matching ``where`` (column = value), read without the services."""
    table = model.__table__
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with platform.db.owner_engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def raw_rows(platform: Platform, model: type[Base], **where: object) -> list[Any]:
    table = model.__table__
    query = select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with platform.db.owner_engine.connect() as conn:
        return list(conn.execute(query).all())


def audit_events(platform: Platform, lab_id: uuid.UUID, action: str | None = None) -> list[Any]:
    """The lab's audit events, oldest first (optionally one action only)."""
    table = AuditEvent.__table__
    query = select(table).where(table.c.chain == str(lab_id)).order_by(table.c.chain_seq)
    if action is not None:
        query = query.where(table.c.action == action)
    with platform.db.owner_engine.connect() as conn:
        return list(conn.execute(query).all())


def pdf_text(pdf: bytes) -> str:
    """All the PDF's text, whitespace collapsed (where a long line wraps does not matter)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())
