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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

from labvault.config import Settings
from labvault.errors import ConfigurationError
from labvault.security.access import Role
from labvault.security.alert_webhook import WebhookNotifier
from labvault.store.base import utcnow
from labvault.store.database import Database

Clock = Callable[[], dt.datetime]
LabCodeLookup = Callable[[Session, uuid.UUID], "str | None"]

# Distinct patients per user, soft (one alert) / hard (refused), in three windows: the short one
# (10 minutes by default), an hour and a day. Sized for the lab the lab-wide budget is sized for
# (about 300 patients a morning, ~600 of open work with every list open; docs/SECURITY.md):
# * Reception serves one patient every few minutes at a desk (a search shows a few homonyms): 100
#   to 200 patients a day. 60 in 10 minutes is already a queue moving at 6 a minute; the day's
#   soft 300 is 1.5x a busy desk, its hard 600 three times.
# * A technician's or biologist's worklists show the lab's open work (a 1,000-line list, several
#   tests a patient): a few hundred patients a day, the same ones list after list. 300 in 10
#   minutes is one large section's list; 600 is every list of the lab open at once. A day of work
#   stays under 800; 1,500 is twice the lab's open work. An hour sits between.
# * Lab admins, prescribers and support have no bulk work on patients: a ward physician sees
#   30-50 of their patients a day, support a few records.
DEFAULT_SOFT: Mapping[str, int] = {
    Role.RECEPTION: 60,
    Role.TECHNICIAN: 300,
    Role.BIOLOGIST: 300,
    Role.LAB_ADMIN: 30,
}
DEFAULT_HARD: Mapping[str, int] = {
    Role.RECEPTION: 150,
    Role.TECHNICIAN: 600,
    Role.BIOLOGIST: 600,
    Role.LAB_ADMIN: 100,
}
OTHER_ROLES_SOFT, OTHER_ROLES_HARD = 30, 100  # any other role (prescriber, support, later ones)
HOUR_SOFT: Mapping[str, int] = {Role.RECEPTION: 100, Role.TECHNICIAN: 500, Role.BIOLOGIST: 500}
HOUR_HARD: Mapping[str, int] = {Role.RECEPTION: 200, Role.TECHNICIAN: 900, Role.BIOLOGIST: 900}
DAY_SOFT: Mapping[str, int] = {Role.RECEPTION: 300, Role.TECHNICIAN: 800, Role.BIOLOGIST: 800}
DAY_HARD: Mapping[str, int] = {Role.RECEPTION: 600, Role.TECHNICIAN: 1500, Role.BIOLOGIST: 1500}
OTHER_HOUR, OTHER_DAY = (50, 150), (100, 300)  # lab admin and any other role
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
# A remembered count of a longer window is trusted for the short window less this: an event another
# host stamps with a clock this far behind still falls in the short window counted later.
CLOCK_MARGIN = dt.timedelta(minutes=1)
FLAGGED_MAX = 10_000
ORIGINS_MAX = 100_000  # (user, network origin) pairs remembered per process
LAB_COUNTS_MAX = 10_000  # labs whose last count a process remembers (then it forgets them all)
WINDOW_COUNTS_MAX = 50_000  # (user, window) counts a process remembers (then it forgets them all)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Budget:
    soft: int
    hard: int


@dataclass(frozen=True)
class Window:
    """A longer window of the per-user budget (an hour, a day): its name (in its alert's kind),
    span and thresholds per role (``other``: any role not listed)."""

    name: str
    span: dt.timedelta
    budgets: Mapping[str, Budget]
    other: Budget

    def budget(self, role: str) -> Budget:
        return self.budgets.get(role, self.other)


@dataclass(frozen=True)
class WindowCount:
    """A user's exact count over a longer window, as a committed transaction saw it at ``at``
    (monitor clock). While ``at`` lies within the short window, every patient the user touched
    since is in the short window's count (exact, taken on every counted read), so ``patients +
    short count`` bounds the longer count from above, in any process (oversight/read_windows.py).
    ``quiet_until``: the window's soft alert for this user is known to exist until then."""

    patients: int
    at: dt.datetime
    quiet_until: dt.datetime | None = None

    def bound(self, recent: int, now: dt.datetime, short: dt.timedelta) -> int | None:
        """The most the count can be now given the short window's ``recent``, or None if this
        count cannot say (too old, or the clock went back)."""
        if now < self.at or now - self.at >= short - min(short / 2, CLOCK_MARGIN):
            return None
        return self.patients + recent

    def quiet(self, now: dt.datetime) -> bool:
        return self.quiet_until is not None and now < self.quiet_until


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
    the count from above in any process (oversight/read_budget.py). ``quiet_until``: the lab's
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
    windows: tuple[Window, ...]  # the longer windows (hour, day); empty only in a measurement
    rate_per_minute: int | None  # the rate signal; None only where a measurement turns it off
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
    # The lab's code for the webhook's payload (identities sit above this layer: the platform
    # passes the lookup at start-up; a reinstall keeps it).
    lab_code: LabCodeLookup | None = field(default=None, repr=False)
    # The database it watches: a refusal's alerts are written after the rollback, in a transaction
    # of their own on it (oversight/read_budget.py). None only before install().
    database: Database | None = field(default=None, repr=False)
    _flagged: set[tuple[uuid.UUID | None, dt.date]] = field(default_factory=set, repr=False)
    _lab_counts: dict[uuid.UUID, LabCount] = field(default_factory=dict, repr=False)
    _window_counts: dict[tuple[uuid.UUID, str], WindowCount] = field(default_factory=dict, repr=False)
    _origins: dict[tuple[uuid.UUID, str], dt.datetime] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utcnow) -> Monitor:
        other = Budget(OTHER_ROLES_SOFT, OTHER_ROLES_HARD)
        budgets = _budgets(
            "", (DEFAULT_SOFT, DEFAULT_HARD), (settings.read_budget_soft, settings.read_budget_hard), other
        )
        hour = (settings.read_budget_hour_soft, settings.read_budget_hour_hard)
        day = (settings.read_budget_day_soft, settings.read_budget_day_hard)
        hour_other, day_other = Budget(*OTHER_HOUR), Budget(*OTHER_DAY)
        windows = (
            Window("hour", HOUR, _budgets("hour ", (HOUR_SOFT, HOUR_HARD), hour, hour_other), hour_other),
            Window("day", DAY, _budgets("day ", (DAY_SOFT, DAY_HARD), day, day_other), day_other),
        )
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
            windows=windows,
            rate_per_minute=settings.read_rate_per_minute,
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

    def origin_seen(self, actor_id: uuid.UUID, origin: str) -> dt.datetime | None:
        """When a committed event of this user last came from ``origin``, as far as this process
        knows (oversight/access_patterns.py: no query while it is within the look-back)."""
        return self._origins.get((actor_id, origin))

    def remember_origin(self, actor_id: uuid.UUID, origin: str, at: dt.datetime) -> None:
        if len(self._origins) >= ORIGINS_MAX and (actor_id, origin) not in self._origins:
            self._origins.clear()
        known = self._origins.get((actor_id, origin))
        if known is None or at > known:
            self._origins[(actor_id, origin)] = at

    def window_count(self, actor_id: uuid.UUID, window: str) -> WindowCount | None:
        return self._window_counts.get((actor_id, window))

    def remember_window_count(self, actor_id: uuid.UUID, window: str, count: WindowCount) -> None:
        """Keep a committed count of a user's window (bounded memory, as the lab counts)."""
        key = (actor_id, window)
        if len(self._window_counts) >= WINDOW_COUNTS_MAX and key not in self._window_counts:
            self._window_counts.clear()
        self._window_counts[key] = count

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


def _budgets(
    which: str,
    defaults: tuple[Mapping[str, int], Mapping[str, int]],
    configured: tuple[Mapping[str, int], Mapping[str, int]],
    other: Budget,
) -> dict[str, Budget]:
    """One window's thresholds per role: configured, else the role's default, else ``other``'s."""
    budgets: dict[str, Budget] = {}
    for role in set(defaults[0]) | set(configured[0]) | set(configured[1]):
        soft = configured[0].get(role, defaults[0].get(role, other.soft))
        hard = configured[1].get(role, defaults[1].get(role, other.hard))
        if not 0 < soft < hard:
            raise ConfigurationError(f"{which}read budget of {role}: need 0 < soft ({soft}) < hard ({hard})")
        budgets[str(role)] = Budget(soft, hard)
    return budgets


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


def install(
    db: Database, settings: Settings, clock: Clock = utcnow, lab_code: LabCodeLookup | None = None
) -> Monitor:
    """Attach a monitor built from ``settings`` to every engine of ``db`` (replacing any, whose
    ``lab_code`` lookup it keeps unless given one)."""
    monitor = Monitor.from_settings(settings, clock)
    for engine in {db.engine, db.owner_engine}:
        previous = _MONITORS.get(engine)
        if lab_code is None and previous is not None:
            lab_code = previous.lab_code
        if previous is not None and previous.webhook is not None and previous.webhook is not monitor.webhook:
            previous.webhook.close()
        _MONITORS[engine] = monitor
    monitor.lab_code = lab_code
    monitor.database = db
    return monitor


def monitor_for(session: Session) -> Monitor:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    monitor = _MONITORS.get(engine)
    if monitor is None:
        monitor = _MONITORS.setdefault(engine, Monitor.from_settings(Settings()))
    return monitor


PENDING_COUNTS = "labvault.pending_counts"


@dataclass
class PendingCounts:
    """Counts taken in a session's transaction: the lab-wide ones (read_budget.py) and the user's
    longer windows and rate (read_windows.py). They become the process's bounds only once the
    transaction commits: one rolled back could count events, or a soft alert, that no longer exist."""

    labs: dict[uuid.UUID, LabCount] = field(default_factory=dict)
    windows: dict[tuple[uuid.UUID, str], WindowCount] = field(default_factory=dict)
    origins: dict[tuple[uuid.UUID, str], dt.datetime] = field(default_factory=dict)  # network origins used


def pending_counts(session: Session) -> PendingCounts:
    pending: PendingCounts = session.info.setdefault(PENDING_COUNTS, PendingCounts())
    return pending


@event.listens_for(Session, "after_commit")
def _keep_counts(session: Session) -> None:
    if session.in_nested_transaction():
        return
    pending: PendingCounts | None = session.info.pop(PENDING_COUNTS, None)
    if pending is None:
        return
    monitor = monitor_for(session)
    for lab_id, count in pending.labs.items():
        monitor.remember_lab_count(lab_id, count)
    for (actor_id, window), window_count in pending.windows.items():
        monitor.remember_window_count(actor_id, window, window_count)
    for (actor_id, origin), at in pending.origins.items():
        monitor.remember_origin(actor_id, origin, at)


@event.listens_for(Session, "after_soft_rollback")
def _forget_counts(session: Session, _previous: Any) -> None:
    session.info.pop(PENDING_COUNTS, None)  # a savepoint too: its events are gone
