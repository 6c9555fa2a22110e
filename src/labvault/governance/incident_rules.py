"""The rules of a breach incident, pure: the regulator's deadline, the nature, the status steps.

GDPR art. 33: the controller notifies the supervisory authority (the CNIL) "without undue delay
and, where feasible, not later than 72 hours after having become aware of it". The clock starts at
discovery, not at the opening of the record: an officer who records an incident a day late has a
day less, and is shown so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from labvault.errors import Conflict, InvalidInput

NOTIFY_WITHIN = dt.timedelta(hours=72)


class Nature(StrEnum):
    """What the breach broke (the CNIL's form asks for each that applies)."""

    CONFIDENTIALITY = "confidentiality"  # data disclosed or accessed without right
    INTEGRITY = "integrity"  # data altered without right
    AVAILABILITY = "availability"  # data lost or made unavailable


NATURE_FR = {
    Nature.CONFIDENTIALITY: "perte de confidentialité",
    Nature.INTEGRITY: "perte d'intégrité",
    Nature.AVAILABILITY: "perte de disponibilité",
}


class Status(StrEnum):
    OPEN = "open"
    NOTIFIED = "notified"  # the regulator was notified (notified_at)
    CLOSED = "closed"


class Source(StrEnum):
    """Where an affected patient was found."""

    CHECK = "check"  # ``labvault breach check`` on a leaked file
    AUDIT = "audit"  # every patient one account accessed between two times
    EXPORT = "export"  # the patients of an export's manifest


def parse_nature(values: Iterable[str]) -> tuple[Nature, ...]:
    """At least one nature, each known, in a fixed order (stored comma-separated)."""
    wanted = {v.strip().lower() for v in values if v.strip()}
    unknown = wanted - {n.value for n in Nature}
    if unknown:
        raise InvalidInput("nature", f"unknown; one or more of {', '.join(n.value for n in Nature)}")
    if not wanted:
        raise InvalidInput("nature", "at least one is required")
    return tuple(n for n in Nature if n.value in wanted)


def nature_text(nature: Iterable[Nature]) -> str:
    return ",".join(n.value for n in nature)


def nature_of(text: str) -> tuple[Nature, ...]:
    return tuple(Nature(v) for v in text.split(",") if v)


@dataclass(frozen=True)
class Deadline:
    """The regulator's deadline as seen at ``now``."""

    due: dt.datetime
    now: dt.datetime
    notified_at: dt.datetime | None

    @property
    def time_left(self) -> dt.timedelta:
        """Until the deadline (negative once it passed); frozen at the notification once notified."""
        return self.due - (self.notified_at or self.now)

    @property
    def overdue(self) -> bool:
        return self.time_left < dt.timedelta(0)

    def words(self) -> str:
        """ "41 h 12 min left", "overdue by 3 h 05 min", "notified 20 h 00 min before the deadline"."""
        left = self.time_left
        span = _span(abs(left))
        if self.notified_at is not None:
            return f"notified {span} {'after' if self.overdue else 'before'} the deadline"
        return f"overdue by {span}" if self.overdue else f"{span} left"


def deadline(
    discovered_at: dt.datetime, now: dt.datetime, notified_at: dt.datetime | None = None
) -> Deadline:
    return Deadline(discovered_at + NOTIFY_WITHIN, now, notified_at)


def _span(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def utc(value: dt.datetime, field: str) -> dt.datetime:
    """``value`` in UTC; it needs its time zone, and a year labvault could have seen."""
    if value.tzinfo is None:
        raise InvalidInput(field, "needs a time zone")
    try:
        converted = value.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidInput(field, "is out of range") from None
    if converted < EARLIEST or converted.year > 9000:
        raise InvalidInput(field, "is out of range")
    return converted


def check_past(value: dt.datetime, now: dt.datetime, field: str = "discovered_at") -> dt.datetime:
    """A time that already happened (a discovery, a notification), with its time zone; in UTC."""
    converted = utc(value, field)
    if converted > now + dt.timedelta(minutes=5):
        raise InvalidInput(field, "is in the future")
    return converted


def check_count(field: str, value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 100_000_000:
        raise InvalidInput(field, "must be 0 to 100,000,000")
    return value


def next_status(current: Status, wanted: Status) -> Status:
    """open -> notified -> closed, or open -> closed (a breach unlikely to result in a risk is
    recorded, not notified: art. 33(5) wants it documented)."""
    allowed = {Status.OPEN: {Status.NOTIFIED, Status.CLOSED}, Status.NOTIFIED: {Status.CLOSED}}
    if wanted not in allowed.get(current, set()):
        raise Conflict(f"an incident {current.value} cannot become {wanted.value}")
    return wanted
