"""The per-user budget's hour and day windows and the rate signal (issue 10, finding 3).

Small thresholds keep the tests short (short window 50/100, hour 8/12, day 20/30, rate 10 a
minute unless a test says otherwise); one fake clock drives the monitor and the audit log. Each
window is crossed by reads spaced so that the windows below it never see more than a few patients.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from labvault.config import Settings
from labvault.errors import ConfigurationError
from labvault.oversight import read_windows
from labvault.oversight.read_budget import BLOCKED, REFUSED, ReadBudgetExceeded
from labvault.oversight.read_windows import RATE, RATE_RECHECK
from labvault.platform import Platform, open_platform
from labvault.security.access import Role
from labvault.security.monitor import Budget, Monitor, install
from labvault.workflow.order_data import OrderRequest
from tests import db_inspect
from tests.db_inspect import actor_events
from tests.security.budget_world import World, budget_world
from tests.web.support import API, app_client, bearer, token_for

SMALL: dict[str, Any] = {
    "read_budget_soft": {"reception": 50},
    "read_budget_hard": {"reception": 100},
    "read_budget_hour_soft": {"reception": 8},
    "read_budget_hour_hard": {"reception": 12},
    "read_budget_day_soft": {"reception": 20},
    "read_budget_day_hard": {"reception": 30},
    "read_rate_per_minute": 10,
}


# The default hour and day budgets (reception 100/200, 300/600): for the rate tests.
DEFAULT_LONG_WINDOWS: dict[str, Any] = {
    f"read_budget_{window}_{level}": {} for window in ("hour", "day") for level in ("soft", "hard")
}


@pytest.fixture
def world(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A lab with 40 patients (registered in bulk: not counted), small budgets, a fake clock."""
    yield from budget_world(platform, monkeypatch, 40, SMALL)


def alerts(platform: Platform, actor: uuid.UUID | None) -> list[Any]:
    """The user's alerts, oldest first."""
    return db_inspect.alerts(platform, order_by=("at", "kind"), actor_id=actor)


def test_hour_window_refuses_over_http_from_two_processes(world: World) -> None:
    """Bursts of 4 patients every 15 minutes (never over the short window) through two processes
    (two platforms, each with its own remembered counts): the 9th patient of the hour is a soft
    alert, the 13th a 429 with Retry-After one hour and an audited refusal; once the first reads
    leave the hour, new patients are readable again."""
    platform = world.platform
    second = open_platform(platform.settings)
    install(second.db, platform.settings.model_copy(update=SMALL), clock=world.clock)
    account = world.factory.user(world.lab, Role.RECEPTION)
    headers = bearer(token_for(platform, account, hours=3))
    statuses: list[int] = []
    try:
        with app_client(platform, origin="192.0.2.20") as one, app_client(second, origin="192.0.2.20") as two:
            for burst in range(4):
                for number, patient_id in enumerate(world.patients[4 * burst : 4 * burst + 4]):
                    world.clock.advance(seconds=7)
                    response = (one, two)[number % 2].get(f"{API}/patients/{patient_id}", headers=headers)
                    statuses.append(response.status_code)
                    if response.status_code == 429:
                        assert response.headers["retry-after"] == "3600"
                        assert "more than 12 distinct patients in 1 hour" in response.json()["detail"]
                        assert str(patient_id) not in response.text
                world.clock.advance(minutes=15)
            world.clock.advance(minutes=5)  # the first burst is now over an hour old
            back = one.get(f"{API}/patients/{world.patients[20]}", headers=headers)
    finally:
        second.close()
    assert statuses == [200] * 12 + [429] * 4
    assert back.status_code == 200
    found = alerts(platform, account.id)
    assert [(a.kind, a.severity, a.blocked) for a in found] == [
        ("read_budget_hour", "medium", False),
        (BLOCKED, "high", True),
    ]
    soft, blocked = found
    assert (soft.detail["distinct_patients"], soft.detail["threshold"], soft.detail["window"]) == (
        9,
        8,
        "hour",
    )
    assert (blocked.detail["distinct_patients"], blocked.detail["threshold"]) == (13, 12)
    assert (blocked.detail["window"], blocked.detail["window_minutes"]) == ("hour", 60)
    refused = actor_events(platform, account.id, REFUSED)  # every refusal, though one alert
    assert [(e.object_type, e.object_id) for e in refused] == [
        ("patient", str(p)) for p in world.patients[12:16]
    ]
    assert {(e.detail["window"], e.detail["threshold"], e.detail["action"]) for e in refused} == {
        ("hour", 12, "patient.read")
    }
    assert all(e.patient_id is None for e in refused)  # a refusal is not a read: not counted
    reads = {e.patient_id for e in actor_events(platform, account.id, "patient.read")}
    assert reads == set(world.patients[:12]) | {world.patients[20]}
    assert platform.audit.verify().ok


def test_day_window_refuses_the_31st_patient_of_the_day(world: World) -> None:
    """Six patients every two hours (never over the short window or the hour): the day's 21st is a
    soft alert, its 31st refused for a day; a day later new patients are readable again."""
    platform = world.platform
    ctx = world.reader()
    refused_at: list[int] = []
    for number, patient_id in enumerate(world.patients[:36]):
        if number % 6 == 0:
            world.clock.advance(hours=2)
        world.clock.advance(seconds=3)
        try:
            platform.patients.get(ctx, patient_id)
        except ReadBudgetExceeded as refusal:
            refused_at.append(number)
            assert refusal.retry_after == 24 * 3600
            assert "in 24 hours for role reception" in str(refusal)
    assert refused_at == list(range(30, 36))
    assert [(a.kind, a.blocked) for a in alerts(platform, ctx.actor_id)] == [
        ("read_budget_day", False),
        (BLOCKED, True),
    ]
    world.clock.advance(hours=23)
    platform.patients.get(ctx, world.patients[36])
    assert len(actor_events(platform, ctx.actor_id, REFUSED)) == 6


def test_patients_already_counted_stay_readable(world: World) -> None:
    """Refused at the hour's 13th patient, the user can still re-read the 12 already counted."""
    ctx = world.reader()
    for patient_id in world.patients[:12]:
        world.clock.advance(minutes=4)
        world.platform.patients.get(ctx, patient_id)
    with pytest.raises(ReadBudgetExceeded):
        world.platform.patients.get(ctx, world.patients[12])
    for patient_id in world.patients[:12]:
        world.platform.patients.get(ctx, patient_id)


def test_rate_signal_is_one_high_alert_for_records_opened_at_script_speed(world: World) -> None:
    platform = world.platform
    world.configure(**DEFAULT_LONG_WINDOWS)
    steady = world.reader()
    for patient_id in world.patients[:20]:  # one every 7 s: about 8.5 a minute, under 10
        world.clock.advance(seconds=7)
        platform.patients.get(steady, patient_id)
    assert alerts(platform, steady.actor_id) == []
    fast = world.reader()
    for patient_id in world.patients[:10]:  # 10 in a minute: not over
        world.clock.advance(seconds=1)
        platform.patients.get(fast, patient_id)
    assert alerts(platform, fast.actor_id) == []
    for patient_id in world.patients[10:14]:
        world.clock.advance(seconds=1)
        platform.patients.get(fast, patient_id)
    (alert,) = alerts(platform, fast.actor_id)  # once per window, not once per read
    assert (alert.kind, alert.severity, alert.blocked) == (RATE, "high", False)
    assert (alert.detail["distinct_patients"], alert.detail["threshold"]) == (11, 10)
    assert alert.detail["window_seconds"] == 60


def test_a_worklist_is_not_a_rate(world: World) -> None:
    """A worklist shows the bench's open work in one request, its patients counted by the budgets
    but not by the rate signal: a technician opening one with 15 patients, then 10 records, raises
    nothing; an 11th record in the minute does (once the rate's re-check interval has passed)."""
    platform = world.platform
    clerk = world.reader()
    for patient_id in world.patients[:15]:
        order = platform.orders.create(clerk, OrderRequest(patient_id=patient_id, tests=("K",)))
        for specimen in order.specimens:
            platform.specimens.receive(clerk, specimen.barcode)
    technician = world.reader(Role.TECHNICIAN)
    lines = platform.results.worklist(technician, "biochemistry")
    assert {line.patient_id for line in lines} == set(world.patients[:15])
    for patient_id in world.patients[15:25]:
        world.clock.advance(seconds=2)
        platform.patients.get(technician, patient_id)
    assert alerts(platform, technician.actor_id) == []
    world.clock.advance(seconds=RATE_RECHECK.total_seconds())  # the alert may come that late
    platform.patients.get(technician, world.patients[25])
    assert [a.kind for a in alerts(platform, technician.actor_id)] == [RATE]


def test_longer_windows_are_not_counted_on_every_read(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Far under the thresholds, the hour and the day are counted once per short window (the
    bound is last count + the short window's count), the rate never (the short count is under
    it); near the hour's soft threshold, at most once per re-check interval."""
    counted: list[int] = []
    real = read_windows.distinct_patients

    def spy(session: Any, ctx: Any, since: Any, stop_after: int, *rest: Any) -> int:
        counted.append(round((world.clock() - since).total_seconds() / 60))
        return real(session, ctx, since, stop_after, *rest)

    monkeypatch.setattr(read_windows, "distinct_patients", spy)
    ctx = world.reader()
    for patient_id in world.patients[:4]:
        world.clock.advance(seconds=30)
        world.platform.patients.get(ctx, patient_id)
    assert counted == [60, 24 * 60]  # the first read only
    world.clock.advance(minutes=10)  # the counts are now older than the short window
    for patient_id in world.patients[:4]:
        world.clock.advance(seconds=30)
        world.platform.patients.get(ctx, patient_id)
    assert counted == [60, 24 * 60] * 2
    world.clock.advance(minutes=11)
    counted.clear()
    for patient_id in world.patients[4:8]:  # the bound 4 + up to 4 reaches the hour's soft 8
        world.clock.advance(seconds=1)
        world.platform.patients.get(ctx, patient_id)
    assert counted == [60, 24 * 60]  # the first read; then within the re-check interval


def test_window_settings() -> None:
    monitor = Monitor.from_settings(Settings())
    hour, day = monitor.windows
    assert (hour.name, hour.span.total_seconds(), day.name, day.span.total_seconds()) == (
        "hour",
        3600,
        "day",
        86400,
    )
    assert monitor.budget("technician") == Budget(300, 600)
    assert (hour.budget("technician"), day.budget("technician")) == (Budget(500, 900), Budget(800, 1500))
    assert (hour.budget("reception"), day.budget("reception")) == (Budget(100, 200), Budget(300, 600))
    assert (hour.budget("prescriber"), day.budget("prescriber")) == (Budget(50, 150), Budget(100, 300))
    assert monitor.rate_per_minute == 60
    configured = Monitor.from_settings(Settings(read_budget_day_hard={"technician": 3000}))
    assert configured.windows[1].budget("technician") == Budget(800, 3000)
    with pytest.raises(ConfigurationError, match=r"hour read budget of reception: need 0 < soft \(300\)"):
        Monitor.from_settings(Settings(read_budget_hour_soft={"reception": 300}))
    with pytest.raises(pydantic.ValidationError):  # the lab-wide hard limit cannot be switched off
        Settings(lab_read_budget_hard=None)
