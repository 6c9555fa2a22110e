"""Off-hours access and new network origins (clock injected), the monitor's settings, and the
alert webhook (a local HTTP server)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from labvault.config import Settings
from labvault.errors import ConfigurationError
from labvault.identity.lab_service import LabInfo
from labvault.oversight.access_patterns import NEW_ORIGIN, OFF_HOURS
from labvault.platform import Platform
from labvault.security import audit
from labvault.security.access import AccessContext, Role
from labvault.security.alert_webhook import WebhookNotifier
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.monitor import Monitor, install
from tests.auth_helpers import FakeClock
from tests.db_inspect import alerts
from tests.factories import Factory

PARIS = ZoneInfo("Europe/Paris")


def paris(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A lab-local instant in January 2030 (the 6th is a Sunday, the 7th a Monday)."""
    return dt.datetime(2030, 1, day, hour, minute, tzinfo=PARIS).astimezone(dt.UTC)


@pytest.fixture
def lab(platform: Platform) -> tuple[Factory, LabInfo, uuid.UUID]:
    factory = Factory(platform)
    info = factory.lab()
    patient = platform.patients.register(factory.ctx(info, Role.RECEPTION), factory.patient_data())
    return factory, info, patient.id


@pytest.fixture
def clock(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """One fake clock for the monitor and for the audit log's timestamps."""
    fake = FakeClock(paris(6, 3))
    install(platform.db, platform.settings.model_copy(update={"off_hours_alerts": True}), clock=fake)
    monkeypatch.setattr(audit, "utcnow", fake)
    yield fake
    install(platform.db, platform.settings)


# --- off hours -----------------------------------------------------------------------------------


def test_off_hours_access_raises_one_low_alert_per_user_per_day(
    lab: tuple[Factory, LabInfo, uuid.UUID], clock: FakeClock
) -> None:
    factory, info, patient = lab
    platform = factory.platform
    ctx = factory.ctx(info, Role.BIOLOGIST)
    platform.patients.get(ctx, patient)  # Sunday 03:00: not a working day
    clock.now = paris(6, 23, 30)
    platform.patients.get(ctx, patient)  # same day: already flagged
    clock.now = paris(7, 6, 59)
    platform.patients.get(ctx, patient)  # Monday before 07:00: a new day, a new alert
    clock.now = paris(7, 7, 0)
    platform.patients.get(ctx, patient)  # working hours: nothing
    clock.now = paris(7, 19, 59)
    platform.patients.get(ctx, patient)
    clock.now = paris(12, 10)
    platform.patients.get(ctx, patient)  # Saturday is a working day by default
    found = alerts(platform, actor_id=ctx.actor_id, kind=OFF_HOURS)
    assert [(a.severity, a.detail["local_time"]) for a in found] == [
        ("low", "Sun 03:00"),
        ("low", "Mon 06:59"),
    ]
    assert found[0].detail["timezone"] == "Europe/Paris"
    other = factory.ctx(info, Role.BIOLOGIST)  # per user
    clock.now = paris(7, 21)
    platform.patients.get(other, patient)
    assert len(alerts(platform, actor_id=other.actor_id, kind=OFF_HOURS)) == 1


def test_an_interface_working_through_the_night_raises_no_off_hours_alert(
    lab: tuple[Factory, LabInfo, uuid.UUID], clock: FakeClock
) -> None:
    """An analyzer's results arrive at 03:00 on a Sunday as on any day: not unusual access."""
    factory, info, patient = lab
    interface = dataclasses.replace(factory.ctx(info, Role.TECHNICIAN), role=Role.INTERFACE)
    person = factory.ctx(info, Role.TECHNICIAN)
    for ctx in (interface, person):
        with factory.platform.db.transaction(info.id) as session:
            audit.append(session, ctx, audit.AuditRecord("result.enter", "result", None, patient_id=patient))
    assert alerts(factory.platform, actor_id=interface.actor_id, kind=OFF_HOURS) == []
    assert len(alerts(factory.platform, actor_id=person.actor_id, kind=OFF_HOURS)) == 1


def test_off_hours_follow_the_settings() -> None:
    monitor = Monitor.from_settings(
        Settings(work_hours="08:30-18:00", work_days="Mon-Fri", lab_timezone="UTC")
    )
    at = dt.datetime(2030, 1, 7, 8, 29, tzinfo=dt.UTC)  # Monday
    assert monitor.off_hours(at) and not monitor.off_hours(at + dt.timedelta(minutes=1))
    assert monitor.off_hours(dt.datetime(2030, 1, 12, 10, tzinfo=dt.UTC))  # Saturday
    weekend = Monitor.from_settings(Settings(work_days="Sat-Mon"))
    assert weekend.work_days == frozenset({5, 6, 0})


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"work_hours": "20:00-07:00"}, "start before it ends"),
        ({"work_hours": "25:00-26:00"}, "HH:MM-HH:MM"),
        ({"lab_timezone": "Europe/Atlantis"}, "unknown time zone"),
        ({"read_budget_soft": {"reception": 200}}, "soft (200) < hard (150)"),
    ],
)
def test_bad_monitor_settings_are_refused_at_start(update: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Monitor.from_settings(Settings().model_copy(update=update))


# --- new origin ----------------------------------------------------------------------------------


def test_a_new_network_origin_raises_one_low_alert(lab: tuple[Factory, LabInfo, uuid.UUID]) -> None:
    factory, info, patient = lab
    platform = factory.platform
    home = factory.ctx(info, Role.RECEPTION)
    at = {origin: dataclasses.replace(home, origin=origin) for origin in ("192.0.2.10", "198.51.100.7")}
    platform.patients.get(at["192.0.2.10"], patient)  # the first network origin: the baseline
    platform.patients.get(at["192.0.2.10"], patient)
    assert alerts(platform, actor_id=home.actor_id, kind=NEW_ORIGIN) == []
    platform.patients.get(at["198.51.100.7"], patient)
    platform.patients.get(at["198.51.100.7"], patient)  # now known
    platform.patients.get(at["192.0.2.10"], patient)  # known too
    (alert,) = alerts(platform, actor_id=home.actor_id, kind=NEW_ORIGIN)
    assert (alert.severity, alert.origin, alert.detail) == ("low", "198.51.100.7", {"lookback_days": 30})


def test_console_and_in_process_origins_are_not_network_origins(
    lab: tuple[Factory, LabInfo, uuid.UUID],
) -> None:
    factory, info, patient = lab
    platform = factory.platform
    ctx = factory.ctx(info, Role.RECEPTION)
    for origin in ("local", "cli", "192.0.2.10", "testclient", "203.0.113.9"):
        platform.patients.get(dataclasses.replace(ctx, origin=origin), patient)
    assert [a.origin for a in alerts(platform, actor_id=ctx.actor_id, kind=NEW_ORIGIN)] == ["203.0.113.9"]


def test_origins_are_forgotten_after_the_lookback(
    lab: tuple[Factory, LabInfo, uuid.UUID], clock: FakeClock, platform: Platform
) -> None:
    factory, info, patient = lab
    install(platform.db, platform.settings, clock=clock)  # off-hours alerts off: origins only
    ctx = factory.ctx(info, Role.RECEPTION)
    old, usual = (dataclasses.replace(ctx, origin=o) for o in ("192.0.2.10", "203.0.113.5"))
    platform.patients.get(old, patient)
    clock.advance(days=31)
    platform.patients.get(usual, patient)  # the only origin of the last 30 days: baseline
    clock.advance(seconds=1)
    platform.patients.get(old, patient)  # seen 31 days ago only: new again
    assert [a.origin for a in alerts(platform, actor_id=ctx.actor_id, kind=NEW_ORIGIN)] == ["192.0.2.10"]


# --- webhook -------------------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return None


@dataclasses.dataclass
class Hook:
    received: list[dict[str, Any]]
    notifier: WebhookNotifier


@pytest.fixture
def webhook(platform: Platform) -> Iterator[Hook]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    monitor = install(platform.db, platform.settings.model_copy(update={"alert_webhook_url": url}))
    assert monitor.webhook is not None
    yield Hook(received, monitor.webhook)
    install(platform.db, platform.settings)  # closes the notifier
    server.shutdown()
    server.server_close()


def test_committed_alerts_are_pushed_without_personal_data(
    lab: tuple[Factory, LabInfo, uuid.UUID], webhook: Hook
) -> None:
    factory, info, patient = lab
    platform = factory.platform
    ctx: AccessContext = factory.ctx(info, Role.LAB_ADMIN)
    with platform.db.transaction(info.id) as session:
        kept = raise_alert(session, ctx, AlertSpec("test", Severity.MEDIUM, {"count": 3}, patient_id=patient))

    class Abort(Exception):
        pass

    with pytest.raises(Abort), platform.db.transaction(info.id) as session:
        raise_alert(session, ctx, AlertSpec("test", Severity.HIGH))
        raise Abort  # rolled back: never raised, never pushed
    assert webhook.notifier.flush(10)
    # (The admin's account, created for this test, was alerted and pushed too: not this test's.)
    received = [p for p in webhook.received if not p["kind"].startswith("account_")]
    assert len(received) == 1
    (pushed,) = received
    assert pushed["alert_id"] == str(kept) and pushed["lab_code"] == info.code
    assert set(pushed) == {"alert_id", "lab_id", "lab_code", "kind", "severity", "blocked", "at"}
    assert (pushed["kind"], pushed["severity"], pushed["blocked"]) == ("test", "medium", False)
    assert str(patient) not in json.dumps(pushed)
