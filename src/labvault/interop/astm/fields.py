"""E1394 / LIS2-A2 lexical layer: the delimiters a message declares in its H record, splitting a
record into fields, repeats and components, and the escape sequences.

The H record declares them itself: ``H|\\^&`` is field ``|``, repeat ``\\``, component ``^``,
escape ``&``. Splitting comes first, then escapes are decoded in each component, so an escaped
delimiter (``&F&``, ``&S&``, ``&R&``, ``&E&``) never splits anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from labvault.interop.astm.errors import RecordError

Field = tuple[tuple[str, ...], ...]
"""One field: its repeats, each a tuple of its components, decoded. An empty field is ``(("",),)``."""

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Delimiters:
    """The four delimiters of a message."""

    field: str = "|"
    repeat: str = "\\"
    component: str = "^"
    escape: str = "&"

    @classmethod
    def from_header(cls, line: str, record_number: int = 1) -> Delimiters:
        """Read them from the H record: the four characters after ``H``, then the field delimiter
        again (or the record's end). Refused unless four distinct characters, none a letter, digit,
        space or line end."""
        chars = line[1:5]
        valid = (
            len(chars) == 4
            and len(set(chars)) == 4
            and not any(c.isalnum() or c.isspace() or not c.isprintable() for c in chars)
            and (len(line) == 5 or line[5] == chars[0])
        )
        if not line.startswith("H") or not valid:
            raise RecordError(
                record_number, "H", 2, "delimiters must be four distinct punctuation characters"
            )
        return cls(chars[0], chars[1], chars[2], chars[3])

    @property
    def declaration(self) -> str:
        """Field 2 of the H record as it is written: repeat, component, escape."""
        return self.repeat + self.component + self.escape


DEFAULT = Delimiters()


def decode(text: str, delimiters: Delimiters = DEFAULT) -> str:
    """The text with its escape sequences applied: ``&F&`` ``&S&`` ``&R&`` ``&E&`` (the
    delimiters), ``&Xhh..&`` (bytes in hex, read as Latin-1); ``&H&`` and ``&N&`` (highlighting
    on, off) are dropped. Raises ValueError, with no part of the text, for anything else."""
    esc = delimiters.escape
    if esc not in text:
        return text
    parts = text.split(esc)
    if len(parts) % 2 == 0:
        raise ValueError("escape sequence not closed")
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        elif part == "F":
            out.append(delimiters.field)
        elif part == "S":
            out.append(delimiters.component)
        elif part == "R":
            out.append(delimiters.repeat)
        elif part == "E":
            out.append(esc)
        elif part in ("H", "N"):
            continue
        elif part[:1] == "X" and _HEX.fullmatch(part[1:]):
            out.append(bytes.fromhex(part[1:]).decode("latin-1"))
        else:
            raise ValueError("unknown escape sequence")
    return "".join(out)


def encode(text: str, delimiters: Delimiters = DEFAULT) -> str:
    """The text escaped so that it splits nowhere: the inverse of ``decode``. Control characters
    (CR would end the record, STX or ETX a frame) go as ``&Xhh&``."""
    d = delimiters
    text = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.repeat, "R")):
        text = text.replace(char, f"{d.escape}{code}{d.escape}")
    return _CONTROL.sub(lambda m: f"{d.escape}X{ord(m.group()):02X}{d.escape}", text)


def split_record(
    line: str, delimiters: Delimiters, record_number: int, record_type: str
) -> tuple[Field, ...]:
    """The record's fields, field 1 (the type letter) first. In an H record, field 2 is the
    delimiter declaration itself and is kept whole."""
    raw_fields = line.split(delimiters.field)
    fields: list[Field] = []
    for index, raw in enumerate(raw_fields, start=1):
        if record_type == "H" and index == 2:
            fields.append(((raw,),))
            continue
        try:
            fields.append(
                tuple(
                    tuple(decode(c, delimiters) for c in repeat.split(delimiters.component))
                    for repeat in raw.split(delimiters.repeat)
                )
            )
        except ValueError as error:
            raise RecordError(record_number, record_type, index, str(error)) from None
    return tuple(fields)


Value = str | Sequence[str] | Sequence[Sequence[str]]
"""What ``join_record`` takes per field: text, components, or repeats (each a text or components)."""


def join_field(value: Value, delimiters: Delimiters = DEFAULT) -> str:
    """One field's text, escaped."""
    if isinstance(value, str):
        return encode(value, delimiters)
    repeats: list[Sequence[str]]
    if all(isinstance(v, str) for v in value):
        repeats = [[str(v) for v in value]]
    else:
        repeats = [[v] if isinstance(v, str) else v for v in value]
    return delimiters.repeat.join(
        delimiters.component.join(encode(c, delimiters) for c in repeat) for repeat in repeats
    )


def join_record(record_type: str, fields: Sequence[Value], delimiters: Delimiters = DEFAULT) -> str:
    """One record's text (no CR) from its type letter and its fields 2, 3 ...; for an H record,
    field 2 is written from ``delimiters`` whatever is given in its place."""
    texts = [join_field(v, delimiters) for v in fields]
    if record_type == "H":
        texts = [delimiters.declaration, *texts[1:]]
    return delimiters.field.join([record_type, *texts])
