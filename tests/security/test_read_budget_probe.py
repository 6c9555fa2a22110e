"""Issue 10, finding 3, replayed with the default budgets: in a lab of 1,980 patients a technician
read 990 distinct patients with their NIR in 12.6 s, paused, and read 990 more 13 minutes later:
no alert, no refusal (one 10-minute window of 2,000). Now the rate signal raises a high alert
within the first second, the 10-minute budget refuses the first burst at 600, and the hour's
budget the second at 900 patients in all. Every refusal is audited; the audit chain stays intact.
Once a burst is refused, the test tries :data:`TRIED_AFTER_REFUSAL` more of its patients (each
refused the same way) and moves on to the pause, rather than paying for all of them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from labvault.oversight.read_budget import BLOCKED, REFUSED, ReadBudgetExceeded
from labvault.oversight.read_windows import RATE
from labvault.platform import Platform
from labvault.security import audit
from labvault.security.access import Role
from labvault.security.alert_models import Alert
from labvault.security.models import AuditEvent
from labvault.security.monitor import install
from labvault.store.base import utcnow
from tests.auth_helpers import FakeClock
from tests.factories import Factory

BURST, BURST_SECONDS, PAUSE_MINUTES = 990, 12.6, 13
TRIED_AFTER_REFUSAL = 20


@pytest.fixture
def clock(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """The default settings' monitor, driven (with the audit log's timestamps) by a fake clock."""
    fake = FakeClock(utcnow())
    monkeypatch.setattr(audit, "utcnow", fake)
    install(platform.db, platform.settings, clock=fake)
    yield fake
    install(platform.db, platform.settings)


def rows(platform: Platform, query: Any) -> list[Any]:
    with platform.db.owner_engine.connect() as conn:
        return list(conn.execute(query).all())


def test_slow_bulk_reading_is_alerted_and_refused_well_before_1980(
    platform: Platform, clock: FakeClock
) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    registrar = factory.ctx(lab)
    patients: list[uuid.UUID] = []
    for _ in range(2):
        patients += platform.patients.register_many(registrar, [factory.patient_data() for _ in range(BURST)])
    technician = factory.ctx(lab, Role.TECHNICIAN)
    rate_alerts = select(Alert.id).where(Alert.actor_id == technician.actor_id, Alert.kind == RATE)
    refused: list[int] = []  # indexes of the patients refused
    rate_alert_after: int | None = None
    for burst in range(2):
        start, refused_here = clock(), 0
        for index in range(burst * BURST, (burst + 1) * BURST):
            if refused_here > TRIED_AFTER_REFUSAL:
                break
            clock.advance(seconds=BURST_SECONDS / BURST)
            try:
                record = platform.patients.get(technician, patients[index])
                assert record.data.nir  # what the probe took: identity and NIR
            except ReadBudgetExceeded:
                refused.append(index)
                refused_here += 1
            if rate_alert_after is None and rows(platform, rate_alerts):
                rate_alert_after = index + 1
        clock.now = start + dt.timedelta(minutes=PAUSE_MINUTES)  # the next burst, 13 minutes on
    tried = TRIED_AFTER_REFUSAL + 1
    assert refused == list(range(600, 600 + tried)) + list(range(BURST + 300, BURST + 300 + tried))
    reads = select(AuditEvent.patient_id).where(
        AuditEvent.actor_id == technician.actor_id, AuditEvent.action == "patient.read"
    )
    assert {e.patient_id for e in rows(platform, reads)} == set(
        patients[:600] + patients[BURST : BURST + 300]
    )
    assert rate_alert_after == 61  # the 61st patient in a minute: within the first second
    found = rows(
        platform,
        select(Alert.kind, Alert.severity, Alert.blocked, Alert.detail)
        .where(Alert.actor_id == technician.actor_id)
        .order_by(Alert.at, Alert.kind),
    )
    kinds = [(a.kind, a.severity) for a in found]
    assert kinds == [
        (RATE, "high"),  # burst 1: the 61st patient
        ("read_budget", "medium"),  # the 301st
        (BLOCKED, "high"),  # the 601st: refused
        ("read_budget_hour", "medium"),  # burst 2: its first read (601 in the hour)
        (RATE, "high"),  # a new short window
        (BLOCKED, "high"),  # the 901st in the hour: refused
    ]
    windows = [(a.detail["window"], a.detail["threshold"]) for a in found if a.kind == BLOCKED]
    assert windows == [("minutes", 600), ("hour", 900)]
    audited = rows(
        platform,
        select(AuditEvent.object_id, AuditEvent.detail).where(
            AuditEvent.actor_id == technician.actor_id, AuditEvent.action == REFUSED
        ),
    )
    assert sorted(e.object_id for e in audited) == sorted(str(patients[i]) for i in refused)
    assert platform.audit.verify().ok
