"""The lab-wide read budget: several accounts, each under its own budget, reading together.

Small lab thresholds (soft 20, hard 30 where set) keep the tests short; every reader stays far
under its own budget (reception: 60/150). One fake clock drives the monitor and the audit log's
timestamps; it moves past the soft re-check interval between reads where a test wants the soft
alert at the read that crosses the threshold.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from labvault.config import Settings
from labvault.errors import ConfigurationError
from labvault.oversight import read_budget
from labvault.oversight.read_budget import (
    BLOCKED,
    LAB_BLOCKED,
    LAB_SOFT,
    MASS_EXPORT,
    NOT_COUNTED,
    SOFT,
    SOFT_RECHECK,
    ReadBudgetExceeded,
)
from labvault.oversight.read_windows import RATE
from labvault.platform import Platform, open_platform
from labvault.security.access import Role
from labvault.security.models import AuditEvent
from labvault.security.monitor import LabBudget, Monitor, install
from labvault.workflow.order_data import OrderRequest
from tests.db_inspect import alerts
from tests.security.budget_world import STEP, World, budget_world
from tests.web.support import API, app_client, bearer, token_for

LAB_SOFT_LIMIT, LAB_HARD_LIMIT = 20, 30
# How far past the hard threshold a burst may take the lab's committed count: none. The bound of
# the last count (count + events appended since, read from the lab's chain head) is exact enough to
# recount whenever the next batch could cross, in whichever process it runs.
HARD_SLIP_BOUND = 0
BUDGET_ALERTS = (
    LAB_SOFT,
    LAB_BLOCKED,
    SOFT,
    BLOCKED,
    MASS_EXPORT,
    RATE,
    "read_budget_hour",
    "read_budget_day",
)


@pytest.fixture
def world(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A lab with 60 patients (registered in bulk: not counted), the lab soft budget at 20, and a
    fake clock (starting now: API tokens stay valid) for the monitor and the audit log."""
    yield from budget_world(platform, monkeypatch, 60, {"lab_read_budget_soft": LAB_SOFT_LIMIT})


def lab_alerts(platform: Platform, lab_id: uuid.UUID, *kinds: str) -> list[Any]:
    """The lab's read-budget alerts (of ``kinds`` if given): not the alerts of its new accounts."""
    return alerts(platform, order_by=("at", "kind"), lab_id=lab_id, kind=kinds or BUDGET_ALERTS)


def counted_reads(platform: Platform, lab_id: uuid.UUID) -> set[uuid.UUID]:
    """Distinct patients of the lab's committed counted events (the whole test is one window)."""
    table = AuditEvent.__table__
    query = select(table.c.patient_id).where(
        table.c.lab_id == lab_id, table.c.patient_id.is_not(None), table.c.action.not_in(NOT_COUNTED)
    )
    with platform.db.owner_engine.connect() as conn:
        return set(conn.execute(query.distinct()).scalars())


def test_accounts_each_under_budget_together_raise_one_lab_alert(world: World) -> None:
    platform = world.platform
    readers = [world.reader() for _ in range(4)]
    for number, patient_id in enumerate(world.patients[:24]):  # 6 each: far under reception's 60
        world.read(readers[number // 6], patient_id)
    (alert,) = lab_alerts(platform, world.lab.id)  # the lab's only alert: no per-user one
    assert (alert.kind, alert.severity, alert.blocked) == (LAB_SOFT, "high", False)
    assert alert.actor_id == readers[3].actor_id  # whose read crossed the threshold
    detail = alert.detail
    assert set(detail) == {"distinct_patients", "threshold", "window_minutes", "accounts", "top_readers"}
    assert (detail["distinct_patients"], detail["threshold"], detail["window_minutes"]) == (21, 20, 10)
    assert detail["accounts"] == 4
    # The crossing read was the 3rd of the 4th reader: 6 + 6 + 6 + 3.
    assert sorted((r["actor_id"], r["patients"]) for r in detail["top_readers"]) == sorted(
        [(str(r.actor_id), n) for r, n in zip(readers, (6, 6, 6, 3), strict=True)]
    )
    assert not any(str(p) in json.dumps(detail) for p in world.patients)  # ids of accounts, counts
    # More accounts, more patients, the same window: no second alert.
    others = [world.reader() for _ in range(3)]
    for number, patient_id in enumerate(world.patients[24:45]):
        world.read(others[number % 3], patient_id)
    assert [a.kind for a in lab_alerts(platform, world.lab.id)] == [LAB_SOFT]
    # A new window (its reads alone over the threshold): a new alert.
    world.clock.advance(minutes=11)
    for number, patient_id in enumerate(world.patients[:21]):
        world.read(others[number % 3], patient_id)
    found = lab_alerts(platform, world.lab.id)
    assert [a.kind for a in found] == [LAB_SOFT, LAB_SOFT]
    assert found[1].detail["distinct_patients"] == 21


def test_another_lab_is_unaffected(world: World) -> None:
    """The first lab over its hard threshold, refused; the second lab's count is its own."""
    world.configure(lab_read_budget_hard=LAB_HARD_LIMIT)
    readers = [world.reader() for _ in range(3)]
    for number, patient_id in enumerate(world.patients[:LAB_HARD_LIMIT]):
        world.read(readers[number % 3], patient_id)
    with pytest.raises(ReadBudgetExceeded):
        world.read(readers[0], world.patients[LAB_HARD_LIMIT])
    factory = world.factory
    other_lab = factory.lab()
    other = factory.ctx(other_lab)
    theirs = world.platform.patients.register_many(other, [factory.patient_data() for _ in range(25)])
    for patient_id in theirs[:LAB_SOFT_LIMIT]:
        world.read(other, patient_id)
    assert lab_alerts(world.platform, other_lab.id) == []  # 20: not over, whatever the first lab did
    for patient_id in theirs[LAB_SOFT_LIMIT:]:
        world.read(other, patient_id)  # never refused: its own count is far from the hard 30
    (alert,) = lab_alerts(world.platform, other_lab.id)
    assert (alert.kind, alert.detail["distinct_patients"], alert.detail["accounts"]) == (LAB_SOFT, 21, 1)
    assert [a.kind for a in lab_alerts(world.platform, world.lab.id)] == [LAB_SOFT, LAB_BLOCKED]


def test_hard_threshold_refuses_over_http_and_records_the_alert(world: World) -> None:
    world.configure(lab_read_budget_hard=LAB_HARD_LIMIT)
    platform = world.platform
    accounts = [world.factory.user(world.lab, Role.RECEPTION) for _ in range(4)]
    tokens = [bearer(token_for(platform, account)) for account in accounts]
    statuses: list[int] = []
    with app_client(platform, origin="192.0.2.10") as client:
        for number, patient_id in enumerate(world.patients[: LAB_HARD_LIMIT + 4]):
            world.clock.advance(seconds=STEP)
            response = client.get(f"{API}/patients/{patient_id}", headers=tokens[number % 4])
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["retry-after"] == "600"
                detail = response.json()["detail"]
                assert "read budget exceeded" in detail and "this laboratory" in detail
                assert str(patient_id) not in response.text
        # A patient the lab already counted stays readable: the count does not grow.
        again = client.get(f"{API}/patients/{world.patients[0]}", headers=tokens[3])
    assert statuses == [200] * LAB_HARD_LIMIT + [429] * 4
    assert again.status_code == 200
    assert counted_reads(platform, world.lab.id) == set(world.patients[:LAB_HARD_LIMIT])
    found = lab_alerts(platform, world.lab.id)
    assert [a.kind for a in found] == [LAB_SOFT] + [LAB_BLOCKED] * 4  # one per refused account
    blocked = found[1:]
    assert {a.actor_id for a in blocked} == {a.id for a in accounts}
    first = blocked[0]
    assert (first.severity, first.blocked, first.origin) == ("high", True, "192.0.2.10")
    assert (first.detail["threshold"], first.detail["distinct_patients"]) == (
        LAB_HARD_LIMIT,
        LAB_HARD_LIMIT + 1,
    )
    assert first.detail["accounts"] == 4
    assert sum(r["patients"] for r in first.detail["top_readers"]) == LAB_HARD_LIMIT + 1
    # Refused again in the window: no second alert for the same account.
    with app_client(platform) as client:
        world.clock.advance(seconds=STEP)
        response = client.get(f"{API}/patients/{world.patients[-1]}", headers=tokens[0])
    assert response.status_code == 429
    assert len(lab_alerts(platform, world.lab.id, LAB_BLOCKED)) == 4
    assert platform.audit.verify().ok


def test_bulk_work_on_samples_is_not_counted(world: World) -> None:
    """Registering, ordering, receiving tubes for 30 patients by several accounts: nothing counted.
    Then exactly 20 reads are not over the soft threshold; the 21st is."""
    platform, factory = world.platform, world.factory
    clerks = [world.reader() for _ in range(3)]
    new = platform.patients.register_many(clerks[0], [factory.patient_data() for _ in range(30)])
    for number, patient_id in enumerate(new):
        world.clock.advance(seconds=STEP)
        clerk = clerks[number % 3]
        order = platform.orders.create(clerk, OrderRequest(patient_id=patient_id, tests=("K",)))
        for specimen in order.specimens:
            platform.specimens.receive(clerk, specimen.barcode)
    assert lab_alerts(platform, world.lab.id) == []
    assert counted_reads(platform, world.lab.id) == set()
    for number, patient_id in enumerate(new[:LAB_SOFT_LIMIT]):
        world.read(clerks[number % 3], patient_id)
    assert lab_alerts(platform, world.lab.id) == []
    world.read(clerks[0], new[LAB_SOFT_LIMIT])
    (alert,) = lab_alerts(platform, world.lab.id)
    assert alert.detail["distinct_patients"] == LAB_SOFT_LIMIT + 1


def test_a_burst_from_two_processes_cannot_slip_past_the_hard_threshold(world: World) -> None:
    """Two processes (two platforms on one database, each with its own monitor and remembered
    counts), several accounts, single reads and a search naming four patients at once, the clock
    still (no soft check is due): the lab's committed count stops at the hard threshold exactly."""
    lab_budget = {"lab_read_budget_soft": LAB_SOFT_LIMIT, "lab_read_budget_hard": LAB_HARD_LIMIT}
    world.configure(**lab_budget)
    platform, factory = world.platform, world.factory
    second = open_platform(platform.settings)
    install(second.db, platform.settings.model_copy(update=lab_budget), clock=world.clock)
    try:
        registrar = world.reader()
        homonym = factory.patient_data(nir=None, ins=None, ins_oid=None, ins_status=None)
        for _ in range(4):
            platform.patients.register(registrar, homonym, accept_homonym=True)
        readers = [world.reader() for _ in range(4)]
        refused: list[int] = []
        for number, patient_id in enumerate(world.patients[:40]):
            process = (platform, second)[number % 2]
            if number == 27:  # 27 counted + 4 in one batch = 31: the whole batch is refused
                with pytest.raises(ReadBudgetExceeded):
                    process.patients.find_by_name_birth(readers[1], homonym.birth_name, homonym.birth_date)
            try:
                process.patients.get(readers[number % 4], patient_id)
            except ReadBudgetExceeded:
                refused.append(number)
            assert len(counted_reads(platform, world.lab.id)) <= LAB_HARD_LIMIT + HARD_SLIP_BOUND
    finally:
        second.close()
    assert counted_reads(platform, world.lab.id) == set(world.patients[:LAB_HARD_LIMIT])
    assert refused == list(range(LAB_HARD_LIMIT, 40))


def test_the_count_is_not_paid_on_every_read(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Far under the thresholds the lab is counted once per process, then only when the bound
    (last count + events since) reaches a threshold: with soft 20, after the 1st read and about
    when the 21st event lands; with the soft alert raised and no hard threshold, never again in
    the window."""
    calls: list[int] = []
    real = read_budget.lab_patients

    def counting(*args: Any) -> int:
        calls.append(real(*args))
        return calls[-1]

    monkeypatch.setattr(read_budget, "lab_patients", counting)
    reader = world.reader()
    for patient_id in world.patients[:15]:
        world.read(reader, patient_id)
    assert calls == [1]  # the process's first read of this lab; 15 events since: bound 15 <= 20
    for patient_id in world.patients[15:40]:
        world.read(reader, patient_id)
    assert [a.kind for a in lab_alerts(world.platform, world.lab.id)] == [LAB_SOFT]
    assert calls == [1, 21]  # bound 21 > 20: counted, over, alert; then quiet for the window
    world.clock.advance(minutes=10)
    world.read(reader, world.patients[40])
    assert calls == [1, 21, 1]  # the window has passed: due again (the old reads left it)


def test_the_soft_alert_may_come_one_recheck_interval_late(world: World) -> None:
    """Orders (not counted, but events) push the bound past soft: the next read counts (16, not
    over). Reads within SOFT_RECHECK of that count are not counted again, even the 21st patient;
    the first read after the interval counts and alerts."""
    platform = world.platform
    reader = world.reader()
    for patient_id in world.patients[:15]:
        world.read(reader, patient_id)
    for patient_id in world.patients[40:50]:
        platform.orders.create(reader, OrderRequest(patient_id=patient_id, tests=("K",)))
    world.read(reader, world.patients[15])  # bound 15 + orders' events > 20: counted, 16
    world.clock.advance(seconds=1)
    for patient_id in world.patients[16:21]:
        platform.patients.get(reader, patient_id)  # the 21st patient among them
    assert lab_alerts(platform, world.lab.id) == []
    world.clock.advance(seconds=SOFT_RECHECK.total_seconds())
    platform.patients.get(reader, world.patients[0])  # a re-read: due, counted, over
    (alert,) = lab_alerts(platform, world.lab.id)
    assert alert.detail["distinct_patients"] == LAB_SOFT_LIMIT + 1


def test_lab_budget_settings() -> None:
    monitor = Monitor.from_settings(Settings())
    assert monitor.lab_budget == LabBudget(1000, 3000)  # hard on by default (issue 10, finding 3)
    configured = Monitor.from_settings(Settings(lab_read_budget_soft=800, lab_read_budget_hard=3000))
    assert configured.lab_budget == LabBudget(800, 3000)
    with pytest.raises(ConfigurationError, match=re.escape("soft (3000) < hard (3000)")):
        Monitor.from_settings(Settings(lab_read_budget_soft=3000, lab_read_budget_hard=3000))
