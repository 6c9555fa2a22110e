"""The access monitor's settings, clock and webhook, one per database (installed by open_platform).

The checks themselves run from the audit log's single choke point (``audit.append_many``), which
only has the session: the monitor is found from the session's engine. A database nobody installed
a monitor on (a script opening ``Database`` directly) gets the defaults: monitoring is never off.
"""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

import labvault.security.canary_models  # noqa: F401 - registers the table the watch looks canaries up in
from labvault.config import Settings
from labvault.errors import ConfigurationError
from labvault.security.access import Role
from labvault.security.alert_webhook import WebhookNotifier
from labvault.store.base import utcnow
from labvault.store.database import Database

Clock = Callable[[], dt.datetime]

# Distinct patients per user per window (10 minutes by default), soft (one alert) / hard (refused).
# Reception serves one patient every few minutes at a desk: 60 in 10 minutes is already a queue
# moving at 6 a minute. A technician's or biologist's worklist legitimately shows hundreds of
# patients (a 1,000-line worklist, several tests each), and they move between sections and
# stages: 2,000 is beyond a large lab's day in 10 minutes, 6,000 only bulk extraction reaches.
# Lab admins and prescribers have no bulk work on patients; support works on a few records.
DEFAULT_SOFT: Mapping[str, int] = {
    Role.RECEPTION: 60,
    Role.TECHNICIAN: 2000,
    Role.BIOLOGIST: 2000,
    Role.LAB_ADMIN: 30,
}
DEFAULT_HARD: Mapping[str, int] = {
    Role.RECEPTION: 150,
    Role.TECHNICIAN: 6000,
    Role.BIOLOGIST: 6000,
    Role.LAB_ADMIN: 100,
}
OTHER_ROLES_SOFT, OTHER_ROLES_HARD = 30, 100  # any other role (prescriber, support, later ones)
FLAGGED_MAX = 10_000
LAB_COUNTS_MAX = 10_000  # labs whose last count a process remembers (then it forgets them all)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Budget:
    soft: int
    hard: int


@dataclass(frozen=True)
class LabBudget:
    """Distinct patients of one lab (all its accounts together) per window: past ``soft`` one alert,
    past ``hard`` refused; ``hard`` None (the default) never refuses."""

    soft: int
    hard: int | None


@dataclass(frozen=True)
class LabCount:
    """A lab's exact count, as a committed transaction saw it: ``patients`` distinct counted
    patients in the window ending at ``at`` (monitor clock), the lab's audit chain ending at
    ``seq``. Each later event names at most one patient, so ``patients + (chain end - seq)`` bounds
    the count from above in any process (security/read_budget.py). ``quiet_until``: the lab's
    soft alert of the window is known to exist until then."""

    patients: int
    seq: int
    at: dt.datetime
    quiet_until: dt.datetime | None = None

    def bound(self, seq: int, now: dt.datetime) -> int | None:
        """The most the count can be now, or None if this count cannot say (the chain was rolled
        back below it, or the clock went back and the window with it)."""
        if seq < self.seq or now < self.at:
            return None
        return self.patients + (seq - self.seq)

    def quiet(self, now: dt.datetime) -> bool:
        return self.quiet_until is not None and now < self.quiet_until


@dataclass
class Monitor:
    """What the checks need: thresholds, working hours, the clock, where alerts are pushed."""

    window: dt.timedelta
    read_budgets: bool
    budgets: dict[str, Budget]
    lab_budget: LabBudget | None  # None only where a measurement turns the lab-wide check off
    mass_export_patients: int
    off_hours_alerts: bool
    work_start: dt.time
    work_end: dt.time
    work_days: frozenset[int]  # Monday = 0
    timezone: dt.tzinfo
    origin_lookback: dt.timedelta
    clock: Clock = utcnow
    webhook: WebhookNotifier | None = field(default=None, repr=False)
    _flagged: set[tuple[uuid.UUID | None, dt.date]] = field(default_factory=set, repr=False)
    _lab_counts: dict[uuid.UUID, LabCount] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utcnow) -> Monitor:
        roles = set(DEFAULT_SOFT) | set(settings.read_budget_soft) | set(settings.read_budget_hard)
        budgets: dict[str, Budget] = {}
        for role in roles:
            soft = settings.read_budget_soft.get(role, DEFAULT_SOFT.get(role, OTHER_ROLES_SOFT))
            hard = settings.read_budget_hard.get(role, DEFAULT_HARD.get(role, OTHER_ROLES_HARD))
            if not 0 < soft < hard:
                raise ConfigurationError(f"read budget of {role}: need 0 < soft ({soft}) < hard ({hard})")
            budgets[str(role)] = Budget(soft, hard)
        lab_soft, lab_hard = settings.lab_read_budget_soft, settings.lab_read_budget_hard
        if lab_hard is not None and not lab_soft < lab_hard:
            raise ConfigurationError(f"lab read budget: need soft ({lab_soft}) < hard ({lab_hard})")
        start, end = _hours(settings.work_hours)
        webhook = None
        if settings.alert_webhook_url:
            webhook = WebhookNotifier(settings.alert_webhook_url, settings.alert_webhook_timeout_seconds)
        return cls(
            window=dt.timedelta(minutes=settings.read_budget_window_minutes),
            read_budgets=settings.read_budgets,
            budgets=budgets,
            lab_budget=LabBudget(lab_soft, lab_hard),
            mass_export_patients=settings.mass_export_patients,
            off_hours_alerts=settings.off_hours_alerts,
            work_start=start,
            work_end=end,
            work_days=_days(settings.work_days),
            timezone=_zone(settings.lab_timezone),
            origin_lookback=dt.timedelta(days=settings.new_origin_days),
            clock=clock,
            webhook=webhook,
        )

    def budget(self, role: str) -> Budget:
        return self.budgets.get(role, Budget(OTHER_ROLES_SOFT, OTHER_ROLES_HARD))

    def lab_count(self, lab_id: uuid.UUID) -> LabCount | None:
        return self._lab_counts.get(lab_id)

    def remember_lab_count(self, lab_id: uuid.UUID, count: LabCount) -> None:
        """Keep a committed count of a lab (bounded memory; any count kept is a valid bound, so
        threads replacing each other's entries only make the next check count sooner)."""
        if len(self._lab_counts) >= LAB_COUNTS_MAX and lab_id not in self._lab_counts:
            self._lab_counts.clear()
        self._lab_counts[lab_id] = count

    def off_hours(self, at: dt.datetime) -> bool:
        local = at.astimezone(self.timezone)
        return local.weekday() not in self.work_days or not self.work_start <= local.time() < self.work_end

    def flagged_today(self, actor_id: uuid.UUID | None, day: dt.date) -> bool:
        return (actor_id, day) in self._flagged

    def flag_today(self, actor_id: uuid.UUID | None, day: dt.date) -> None:
        """Remember a committed off-hours alert of this user for this local day (bounded memory)."""
        if len(self._flagged) >= FLAGGED_MAX:
            self._flagged.clear()
        self._flagged.add((actor_id, day))

    def local_midnight(self, at: dt.datetime) -> dt.datetime:
        """The start of ``at``'s lab-local day, as a UTC instant (off-hours alerts: once a day)."""
        local = at.astimezone(self.timezone)
        return dt.datetime.combine(local.date(), dt.time(), self.timezone).astimezone(dt.UTC)


def _hours(text: str) -> tuple[dt.time, dt.time]:
    try:
        start, end = (dt.time.fromisoformat(part) for part in text.split("-"))
    except ValueError:
        raise ConfigurationError("work_hours: expected HH:MM-HH:MM, e.g. 07:00-20:00") from None
    if not start < end:
        raise ConfigurationError("work_hours: the day must start before it ends")
    return start, end


def _days(text: str) -> frozenset[int]:
    first, _, last = text.partition("-")
    try:
        start, end = DAYS.index(first), DAYS.index(last or first)
    except ValueError:
        raise ConfigurationError("work_days: expected e.g. Mon-Sat") from None
    return frozenset(day % 7 for day in range(start, end + 1 if end >= start else end + 8))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"lab_timezone: unknown time zone {name!r}") from None


_MONITORS: weakref.WeakKeyDictionary[Engine, Monitor] = weakref.WeakKeyDictionary()


def install(db: Database, settings: Settings, clock: Clock = utcnow) -> Monitor:
    """Attach a monitor built from ``settings`` to every engine of ``db`` (replacing any)."""
    monitor = Monitor.from_settings(settings, clock)
    for engine in {db.engine, getattr(db, "owner_engine", db.engine)}:
        previous = _MONITORS.get(engine)
        if previous is not None and previous.webhook is not None and previous.webhook is not monitor.webhook:
            previous.webhook.close()
        _MONITORS[engine] = monitor
    return monitor


def monitor_for(session: Session) -> Monitor:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    monitor = _MONITORS.get(engine)
    if monitor is None:
        monitor = _MONITORS.setdefault(engine, Monitor.from_settings(Settings()))
    return monitor
