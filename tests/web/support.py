"""Helpers shared by the web API tests: the test client, auth headers, payloads, row counters."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pypdf
from sqlalchemy import func, select, update

from labvault.identity.accounts import Account, context_for
from labvault.identity.models import ApiToken, Patient, User
from labvault.identity.patient_data import PatientData
from labvault.oversight.refusals import RefusalService
from labvault.platform import Platform
from labvault.security.access import AccessContext
from labvault.security.models import AuditEvent
from labvault.store.base import Base, utcnow
from labvault.web.app import create_app
from labvault.workflow.order_data import OrderRecord, OrderRequest
from labvault.workflow.result_entry import ResultEntry
from tests.auth_helpers import mark_reauthenticated

with warnings.catch_warnings():
    # Starlette warns when it falls back from ``httpx2`` to ``httpx`` (the pinned dependency);
    # the suite turns warnings into errors, and the fallback is exactly what we want here.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "API",
    "Bench",
    "TestClient",
    "app_client",
    "assert_no_store",
    "assert_pdf_download",
    "audit_actions",
    "audit_count",
    "bearer",
    "expire_token",
    "patient_count",
    "patient_json",
    "pdf_text",
    "row_count",
    "row_value",
    "token_for",
    "user_count",
]

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(platform: Platform, account: Account, hours: int = 1, *, recent_auth: bool = False) -> str:
    """A script token, as ``labvault token create`` makes; ``recent_auth``: as if its holder had
    just re-authenticated (for routes behind re-authentication that a test is not about)."""
    token = platform.accounts.issue_token(account, "test", dt.timedelta(hours=hours)).token
    if recent_auth:
        mark_reauthenticated(platform, token)
    return token


def app_client(
    platform: Platform, *, origin: str = "testclient", **settings: Any
) -> contextlib.AbstractContextManager[TestClient]:
    """A test client of an application over ``platform``, with settings overridden (e.g. the
    login rate limit) and requests coming from ``origin``."""
    if settings:
        changed = platform.settings.model_copy(update=settings)
        # The refusal counts take their thresholds from the settings they are built with.
        platform = dataclasses.replace(
            platform, settings=changed, refusals=RefusalService(platform.db, changed)
        )
    return TestClient(create_app(platform), client=(origin, 50000))


def expire_token(platform: Platform, token_id: uuid.UUID) -> None:
    """Move a token's expiry into the past (tokens cannot be issued with a TTL under a minute)."""
    past = utcnow() - dt.timedelta(minutes=5)
    with platform.db.engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(expires_at=past))


def patient_json(data: PatientData, **extra: Any) -> dict[str, Any]:
    """The JSON body POST /api/v1/patients expects for ``data`` (None fields left out)."""
    body: dict[str, Any] = {}
    for name, value in dataclasses.asdict(data).items():
        if value is None:
            continue
        body[name] = value.isoformat() if isinstance(value, dt.date) else value
    body.update(extra)
    return body


def patient_count(platform: Platform, lab_id: uuid.UUID) -> int:
    """Rows of ``lab_id`` in the patients table, read below the ORM (no tenant filter involved)."""
    table = Patient.__table__
    with platform.db.owner_engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(table).where(table.c.lab_id == lab_id)).scalar_one()
        )


def audit_count(platform: Platform, lab_id: uuid.UUID | None) -> int:
    """Events in a lab's audit chain (``None``: the platform chain)."""
    table = AuditEvent.__table__
    chain = str(lab_id) if lab_id else "platform"
    with platform.db.owner_engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(table).where(table.c.chain == chain)).scalar_one()
        )


def user_count(platform: Platform, username: str) -> int:
    table = User.__table__
    with platform.db.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.username == username)
            ).scalar_one()
        )


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", (
        f"{response.request.method} {response.request.url.path} -> {response.status_code} "
        f"has Cache-Control {response.headers.get('cache-control')!r}"
    )


# --- workflow -------------------------------------------------------------------------------------


def row_count(platform: Platform, model: type[Base], **where: object) -> int:
    """Rows of ``model``'s table matching ``where`` (column = value), read below the ORM."""
    table = model.__table__
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with platform.db.owner_engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def row_value(platform: Platform, model: type[Base], row_id: uuid.UUID, column: str) -> Any:
    """One clear column of one row (a status, a version), read below the ORM."""
    table = model.__table__
    with platform.db.owner_engine.connect() as conn:
        return conn.execute(select(table.c[column]).where(table.c.id == row_id)).scalar_one()


def audit_actions(platform: Platform, lab_id: uuid.UUID, object_id: uuid.UUID | None = None) -> list[str]:
    """The actions of a lab's audit chain, oldest first, optionally for one object."""
    table = AuditEvent.__table__
    query = select(table.c.action).where(table.c.chain == str(lab_id)).order_by(table.c.chain_seq)
    if object_id is not None:
        query = query.where(table.c.object_id == str(object_id))
    with platform.db.owner_engine.connect() as conn:
        return [str(action) for action in conn.execute(query).scalars()]


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def assert_pdf_download(response: httpx.Response, filename: str) -> str:
    """A PDF attachment named by accession or version, never cached; returns its text."""
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert_no_store(response)
    assert response.content.startswith(b"%PDF")
    return pdf_text(response.content)


@dataclass
class Bench:
    """Moves orders through the workflow with the services directly (setup for the API tests):
    reception registers and receives, the technician enters and validates technically, the
    biologist enters restricted tests, calls critical values, signs and releases."""

    platform: Platform
    reception: Account
    technician: Account
    biologist: Account

    def ctx(self, account: Account) -> AccessContext:
        return context_for(account)

    def order(self, patient_id: uuid.UUID, *tests: str, receive: bool = True) -> OrderRecord:
        record = self.platform.orders.create(
            self.ctx(self.reception), OrderRequest(patient_id=patient_id, tests=tests)
        )
        if receive:
            for specimen in record.specimens:
                self.platform.specimens.receive(self.ctx(self.reception), specimen.barcode)
        return record

    @staticmethod
    def items(order: OrderRecord) -> dict[str, uuid.UUID]:
        return {item.test_code: item.id for item in order.items}

    def enter(self, order: OrderRecord, values: dict[str, str]) -> None:
        restricted = {item.test_code for item in order.items if item.restricted}
        items = self.items(order)
        for account, codes in (
            (self.technician, [c for c in values if c not in restricted]),
            (self.biologist, [c for c in values if c in restricted]),
        ):
            if codes:
                entries = [ResultEntry(items[code], values[code]) for code in codes]
                self.platform.results.enter(self.ctx(account), entries)

    def validate(self, order: OrderRecord, codes: Iterable[str], *, biological: bool = True) -> None:
        """Technical validation of ``codes`` (by the biologist for restricted tests), then the
        biologist's, with the critical calls it needs recorded first."""
        items = self.items(order)
        restricted = {item.test_code for item in order.items if item.restricted}
        codes = list(codes)
        for account, chosen in (
            (self.technician, [c for c in codes if c not in restricted]),
            (self.biologist, [c for c in codes if c in restricted]),
        ):
            if chosen:
                self.platform.results.validate_technical(self.ctx(account), [items[c] for c in chosen])
        if not biological:
            return
        bio = self.ctx(self.biologist)
        for item in self.platform.orders.get(bio, order.id).items:
            result = item.result
            critical = result is not None and result.flag in ("LL", "HH") and not result.critical_called
            if item.test_code in codes and critical:
                self.platform.results.record_critical_call(bio, item.id, "Dr Garde, SAU", "phone")
        self.platform.results.validate_biological(bio, [items[c] for c in codes])

    def release(self, order: OrderRecord) -> int:
        return self.platform.reports.release(self.ctx(self.biologist), order.id).version
