"""Rows of a SQL text dump (mysqldump, pg_dump, ``--inserts`` or ``COPY``), streamed line by line.

Only what carries data is read: ``CREATE TABLE`` (for column names), ``INSERT INTO ... VALUES``
(one or many tuples, on one line or several) and ``COPY ... FROM stdin`` blocks. Everything else
(comments, ``SET``, indexes, constraints) is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from labvault.governance.breach_extract import (
    NO_COLUMNS,
    BreachInputError,
    Candidate,
    Columns,
    column_key,
    row_candidates,
)

_NAME = r"((?:[`\"\[]?[\w$]+[`\"\]]?\.)?[`\"\[]?[\w$]+[`\"\]]?)"
_CREATE = re.compile(rf"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}\s*\((.*)$", re.IGNORECASE)
_INSERT = re.compile(
    rf"^\s*INSERT\s+(?:IGNORE\s+)?INTO\s+{_NAME}\s*(?:\(([^)]*)\))?\s*VALUES\s*(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_COPY = re.compile(rf"^\s*COPY\s+{_NAME}\s*(?:\(([^)]*)\))?\s+FROM\s+stdin", re.IGNORECASE)
_NOT_COLUMNS = ("primary", "key", "unique", "constraint", "index", "foreign", "check", "fulltext", "exclude")
_COPY_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "b": "\b", "f": "\f", "v": "\v"}


def _table(name: str) -> str:
    return column_key(name.split(".")[-1])


def _columns(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


@dataclass
class _Tuples:
    """The VALUES list of one INSERT, fed piece by piece: yields each tuple when it closes."""

    depth: int = 0
    quote: str = ""
    escape: bool = False
    value: list[str] = field(default_factory=list)
    quoted: bool = False
    values: list[str | None] = field(default_factory=list)
    start: int = 0
    done: bool = False

    def feed(self, line: int, text: str) -> Iterator[tuple[int, list[str | None]]]:
        i, n = 0, len(text)
        while i < n and not self.done:
            ch = text[i]
            if self.quote:
                if self.escape:
                    self.value.append({"n": "\n", "t": "\t", "0": "", "r": "\r"}.get(ch, ch))
                    self.escape = False
                elif ch == "\\" and self.quote == "'":
                    self.escape = True
                elif ch == self.quote:
                    if i + 1 < n and text[i + 1] == self.quote:  # '' inside a string
                        self.value.append(ch)
                        i += 1
                    else:
                        self.quote = ""
                else:
                    self.value.append(ch)
            elif ch in "'\"":
                self.quote, self.quoted = ch, True
            elif ch == "(":
                self.depth += 1
                if self.depth == 1:
                    self.start, self.values, self.value, self.quoted = line, [], [], False
            elif ch == ")":
                self.depth -= 1
                if self.depth == 0:
                    self._end_value()
                    yield self.start, self.values
            elif ch == "," and self.depth == 1:
                self._end_value()
            elif ch == ";" and self.depth == 0:
                self.done = True
            elif self.depth >= 1 and (self.depth > 1 or not self.quoted):
                self.value.append(ch)
            i += 1

    def _end_value(self) -> None:
        raw = "".join(self.value)
        text = raw if self.quoted else raw.strip()
        self.values.append(None if not self.quoted and text.upper() == "NULL" else text)
        self.value, self.quoted = [], False


def _copy_values(text: str) -> list[str | None]:
    fields: list[str | None] = []
    for raw in text.rstrip("\r\n").split("\t"):
        if raw == "\\N":
            fields.append(None)
            continue
        fields.append(re.sub(r"\\(.)", lambda m: _COPY_ESCAPES.get(m.group(1), m.group(1)), raw))
    return fields


def sql_candidates(lines: Iterable[tuple[int, str]]) -> Iterator[Candidate]:
    tables: dict[str, Columns] = {}
    creating: tuple[str, list[str]] | None = None
    inserting: tuple[_Tuples, Columns, int] | None = None
    copying: Columns | None = None
    line = 0
    for line, text in lines:
        if copying is not None:
            if text.rstrip("\r\n") == "\\.":
                copying = None
            else:
                yield from row_candidates(line, _copy_values(text), copying)
            continue
        if inserting is not None:
            tuples, columns, _ = inserting
            for start, values in tuples.feed(line, text):
                yield from row_candidates(start, values, columns)
            if tuples.done:
                inserting = None
            continue
        if creating is not None:
            name, found = creating
            stripped = text.strip()
            if stripped.startswith(")"):
                tables[name] = Columns.of(found)
                creating = None
            elif stripped and stripped.split()[0].strip('`"[]').lower() not in _NOT_COLUMNS:
                found.append(stripped.split()[0])
            continue
        if match := _INSERT.match(text):
            table, listed, rest = match.groups()
            columns = Columns.of(_columns(listed)) if listed else tables.get(_table(table), NO_COLUMNS)
            tuples = _Tuples()
            for start, values in tuples.feed(line, rest):
                yield from row_candidates(start, values, columns)
            if not tuples.done:
                inserting = (tuples, columns, line)
        elif match := _COPY.match(text):
            table, listed = match.groups()
            copying = Columns.of(_columns(listed)) if listed else tables.get(_table(table), NO_COLUMNS)
        elif match := _CREATE.match(text):
            table, rest = match.groups()
            if rest.strip():  # columns on the same line: CREATE TABLE t (a int, b text);
                inline = rest.rsplit(")", 1)[0] if ")" in rest else rest
                parts = [p.split()[0] for p in _columns(inline) if p.strip()]
                tables[_table(table)] = Columns.of([p for p in parts if p.lower() not in _NOT_COLUMNS])
            else:
                creating = (_table(table), [])
    if inserting is not None and (inserting[0].quote or inserting[0].depth):
        raise BreachInputError(
            f"line {inserting[2]}: INSERT statement not terminated before the end of the file"
        )
