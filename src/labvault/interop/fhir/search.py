"""FHIR search parameters, parsed and refused precisely before any service is asked. A refusal
names the parameter and why, never its value (it may be a NIR or a name): FHIR answers it 400."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from labvault.interop.fhir.outcome import FhirBadRequest

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_OFFSET = 10_000
MAX_VALUE = 512
MAX_PARAMETERS = 30
# Accepted on every search: paging, and the format FHIR clients send (JSON is the only one served).
COMMON = frozenset({"_count", "_offset", "_format"})
FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
DATE_PREFIXES = ("eq", "lt", "le", "gt", "ge")

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class BadSearch(FhirBadRequest):
    """A search parameter refused (unknown, repeated, malformed): FHIR's 400."""


@dataclass(frozen=True)
class DateRange:
    """What a ``date`` parameter selects: ``prefix`` applied to [start, end)."""

    prefix: str
    start: dt.datetime
    end: dt.datetime

    def matches(self, at: dt.datetime | None) -> bool:
        if at is None:
            return False
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        if self.prefix == "eq":
            return self.start <= at < self.end
        if self.prefix == "lt":
            return at < self.start
        if self.prefix == "le":
            return at < self.end
        if self.prefix == "gt":
            return at >= self.end
        return at >= self.start  # ge


class Search:
    """A search's parameters (query string and form body alike), checked against the resource's
    supported ones; accessors that parse a value or refuse it."""

    def __init__(self, pairs: Iterable[tuple[str, str]], supported: frozenset[str]) -> None:
        self.values: dict[str, list[str]] = {}
        for count, (name, value) in enumerate(pairs):
            if count >= MAX_PARAMETERS:
                raise BadSearch("search", f"at most {MAX_PARAMETERS} parameters")
            if name not in supported and name not in COMMON:
                shown = name if _ID.match(name) else "a parameter"
                raise BadSearch(shown, "is not a supported search parameter here (see /fhir/metadata)")
            if len(value) > MAX_VALUE:
                raise BadSearch(name, f"is longer than {MAX_VALUE} characters")
            if not value.isprintable():
                raise BadSearch(name, "holds a control character")
            if not value.strip():
                raise BadSearch(name, "is empty")
            self.values.setdefault(name, []).append(value.strip())
        for name in self.values.get("_format", []):
            if name not in FORMATS:
                raise BadSearch("_format", "only JSON is served (application/fhir+json)")
        # Paging is checked before any service is asked, so a bad page never costs a search.
        self.count = self.integer("_count", 0, MAX_COUNT, DEFAULT_COUNT)
        self.offset = self.integer("_offset", 0, MAX_OFFSET, 0)

    def names(self) -> set[str]:
        return set(self.values) - COMMON

    def one(self, name: str) -> str | None:
        found = self.values.get(name)
        if not found:
            return None
        if len(found) > 1:
            raise BadSearch(name, "may be given once")
        return found[0]

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        value = self.one(name)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise BadSearch(name, f"must be a whole number from {low} to {high}")
        return int(value)

    def token(self, name: str) -> tuple[str | None, str] | None:
        """``system|code`` or ``code``: (system or None when not given, code)."""
        value = self.one(name)
        if value is None:
            return None
        system, bar, code = value.partition("|")
        if not bar:
            return None, value
        if not code:
            raise BadSearch(name, "names a system without a code (system|code)")
        return system or None, code

    def reference(self, name: str, resource_type: str) -> uuid.UUID | None:
        """``Type/id``, a URL ending so, or a bare id: the id as labvault's UUID."""
        value = self.one(name)
        if value is None:
            return None
        parts = value.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] != resource_type:
            raise BadSearch(name, f"must reference a {resource_type} ({resource_type}/<id>)")
        return parse_id(name, parts[-1])

    def date(self, name: str) -> DateRange | None:
        value = self.one(name)
        return None if value is None else parse_date(name, value)

    def exact_date(self, name: str) -> dt.date | None:
        """A whole day (``eq`` prefix allowed): what labvault's name + birth date search takes."""
        found = self.date(name)
        if found is None:
            return None
        if found.prefix != "eq" or found.end - found.start != dt.timedelta(days=1):
            raise BadSearch(name, "must be one whole day, YYYY-MM-DD")
        return found.start.date()


def parse_id(name: str, value: str) -> uuid.UUID:
    """A labvault id (a UUID), or the refusal of ``name``."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadSearch(name, "is not an id of this server") from None


def parse_date(name: str, value: str) -> DateRange:
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    if prefix not in DATE_PREFIXES:
        raise BadSearch(name, f"prefix must be one of {', '.join(DATE_PREFIXES)}")
    match = _DATE.match(text)
    try:
        if match:
            year, month, day = match.group(1), match.group(2), match.group(3)
            start = dt.datetime(int(year), int(month or 1), int(day or 1), tzinfo=dt.UTC)
            if day:
                end = start + dt.timedelta(days=1)
            elif month:
                end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
            else:
                end = start.replace(year=start.year + 1)
            return DateRange(prefix, start, end)
        at = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise BadSearch(name, "must be a date (YYYY, YYYY-MM, YYYY-MM-DD) or a date-time") from None
    if at.tzinfo is None:
        raise BadSearch(name, "a date-time must carry its time zone")
    return DateRange(prefix, at, at + dt.timedelta(seconds=1))
