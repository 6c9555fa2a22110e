"""Helpers shared by the web API tests: the test client, auth headers, payloads, row counters."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
import warnings
from typing import Any

import httpx
from sqlalchemy import func, select, update

from labvault.identity.account_service import Account
from labvault.identity.models import ApiToken, Patient, User
from labvault.identity.patient_data import PatientData
from labvault.platform import Platform
from labvault.security.models import AuditEvent
from labvault.store.base import utcnow

with warnings.catch_warnings():
    # Starlette warns when it falls back from ``httpx2`` to ``httpx`` (the pinned dependency);
    # the suite turns warnings into errors, and the fallback is exactly what we want here.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "API",
    "TestClient",
    "assert_no_store",
    "audit_count",
    "bearer",
    "expire_token",
    "patient_count",
    "patient_json",
    "token_for",
    "user_count",
]

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(platform: Platform, account: Account, hours: int = 1) -> str:
    return platform.accounts.issue_token(account, "test", dt.timedelta(hours=hours)).token


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
    with platform.db.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(table).where(table.c.lab_id == lab_id)).scalar_one()
        )


def audit_count(platform: Platform, lab_id: uuid.UUID | None) -> int:
    """Events in a lab's audit chain (``None``: the platform chain)."""
    table = AuditEvent.__table__
    chain = str(lab_id) if lab_id else "platform"
    with platform.db.engine.connect() as conn:
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
