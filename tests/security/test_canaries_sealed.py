"""A stolen database does not say which patients are canaries (issue 10, finding 11): the
``canaries`` table holds a keyed index and sealed values, nothing that matches a patient row."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, select

from labvault.identity.accounts import context_for
from labvault.identity.models import Patient
from labvault.oversight.canaries import CanaryService
from labvault.oversight.canary_models import Canary
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.alert_models import Alert
from tests.factories import Factory


def forms(value: Any) -> set[str]:
    """The ways a stolen value could be written: text, hex, raw bytes (as latin-1)."""
    if isinstance(value, uuid.UUID):
        return {str(value), value.hex, value.bytes.decode("latin-1")}
    if isinstance(value, dt.datetime):
        return {value.isoformat(), value.isoformat(" "), value.replace(tzinfo=None).isoformat(" ")}
    if isinstance(value, bytes):
        return {value.decode("latin-1"), value.hex()}
    return {str(value)}


def test_the_canaries_table_names_no_patient(platform: Platform) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    planted = CanaryService(platform.db, platform.patients).plant(context_for(admin), 3, "vol")
    for _ in range(3):
        platform.patients.register(factory.ctx(lab), factory.patient_data())
    # The thief's copy: every column of both tables, read below the application.
    with platform.db.owner_engine.connect() as conn:
        canaries = Canary.__table__
        canary_rows = conn.execute(select(canaries).where(canaries.c.lab_id == lab.id)).mappings().all()
        patient_rows = conn.execute(
            select(Patient.id, Patient.created_at).where(Patient.lab_id == lab.id)
        ).all()
    assert len(canary_rows) == 3 and len(patient_rows) == 6
    patient_values: set[str] = set()
    for row in patient_rows:
        patient_values |= forms(row.id) | forms(row.created_at)
    stolen: set[str] = set()
    for row in canary_rows:
        for name, value in row.items():
            if name not in ("id", "lab_id", "label"):
                stolen |= forms(value if not isinstance(value, memoryview) else bytes(value))
    assert not any(p in s or s in p for p in patient_values for s in stolen if len(s) >= 8)
    assert "patient_id" not in canary_rows[0] and "planted_at" not in canary_rows[0]
    # The lab, with its keys, still tells them apart.
    listed = CanaryService(platform.db, platform.patients).list(context_for(admin))
    assert sorted(c.patient_id for c in listed) == sorted(c.patient_id for c in planted)


def test_reading_a_canary_still_alerts_with_the_transactions_own_keys(platform: Platform) -> None:
    """The check computes the index with the key set the read already loaded: the keys' marker is
    read once per read, not again for the check."""
    factory = Factory(platform)
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    (canary,) = CanaryService(platform.db, platform.patients).plant(context_for(admin), 1, "lecture")
    reader = factory.ctx(lab, Role.BIOLOGIST)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(platform.db.engine, "before_cursor_execute", seen)
    try:
        platform.patients.get(reader, canary.patient_id)
    finally:
        event.remove(platform.db.engine, "before_cursor_execute", seen)
    assert sum("lab_keys" in s for s in statements) == 1
    assert sum("canaries" in s for s in statements) == 1
    with platform.db.owner_engine.connect() as conn:
        alerts = conn.execute(
            select(Alert.__table__).where(Alert.lab_id == lab.id, Alert.kind == "canary")
        ).all()
    assert [(a.severity, a.actor_id, a.detail["canary_id"]) for a in alerts] == [
        ("high", reader.actor_id, str(canary.id))
    ]
    with platform.db.transaction(lab.id) as session:
        assert session.scalar(select(Canary.id)) == canary.id
