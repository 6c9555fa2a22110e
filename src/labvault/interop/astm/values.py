"""Typed reading of one record's fields: text, components, sequence numbers, dates, codes. Every
refusal is a RecordError naming the record, its type and the field, never the value."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date, datetime

from labvault.interop.astm.errors import RecordError
from labvault.interop.astm.fields import Field

_DATE = re.compile(r"[0-9]{8}")
_TIMESTAMP = re.compile(r"[0-9]{8}(?:[0-9]{4}(?:[0-9]{2})?)?")
_INTEGER = re.compile(r"[0-9]{1,9}")
_FORMATS = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}


class FieldReader:
    """One record's fields, read by number: field 1 is the type letter, as in the standard."""

    def __init__(self, fields: tuple[Field, ...], record_number: int, record_type: str) -> None:
        self.fields = fields
        self.record_number = record_number
        self.record_type = record_type

    def refuse(self, field_number: int | None, reason: str) -> RecordError:
        return RecordError(self.record_number, self.record_type, field_number, reason)

    def repeats(self, n: int) -> Field:
        """All repeats of field ``n`` (``(("",),)`` when the record stops before it)."""
        return self.fields[n - 1] if n <= len(self.fields) else (("",),)

    def components(self, n: int) -> tuple[str, ...]:
        """The components of field ``n``'s first repeat."""
        return self.repeats(n)[0]

    def text(self, n: int) -> str:
        """Field ``n``'s first component of its first repeat."""
        return self.components(n)[0]

    def optional(self, n: int) -> str | None:
        return self.text(n) or None

    def sequence(self) -> int:
        """Field 2, the record's sequence number: a positive integer."""
        text = self.text(2)
        if not _INTEGER.fullmatch(text) or int(text) == 0:
            raise self.refuse(2, "sequence number is not a positive integer")
        return int(text)

    def choice(self, n: int, allowed: Collection[str]) -> str | None:
        """A one-code field: empty, or one of ``allowed``."""
        text = self.text(n)
        if not text:
            return None
        if text not in allowed:
            raise self.refuse(n, "not one of the codes " + ", ".join(sorted(allowed)))
        return text

    def timestamp(self, n: int) -> datetime | None:
        """``YYYYMMDD[HHMM[SS]]``, the analyzer's local time (naive: E1394 carries no zone)."""
        text = self.text(n)
        if not text:
            return None
        if not _TIMESTAMP.fullmatch(text):
            raise self.refuse(n, "not a date-time YYYYMMDD[HHMM[SS]]")
        try:
            return datetime.strptime(text, _FORMATS[len(text)])
        except ValueError:
            raise self.refuse(n, "not a valid calendar date-time") from None

    def date(self, n: int) -> date | None:
        """``YYYYMMDD``; a date-time is accepted and its date kept (birthdates sent with 000000)."""
        text = self.text(n)
        if not text:
            return None
        if not _DATE.fullmatch(text[:8]) or not _TIMESTAMP.fullmatch(text):
            raise self.refuse(n, "not a date YYYYMMDD")
        try:
            return datetime.strptime(text[:8], "%Y%m%d").date()
        except ValueError:
            raise self.refuse(n, "not a valid calendar date") from None
