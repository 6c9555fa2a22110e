"""Candidate identifiers in a file found outside (a CSV, or a SQL dump): pure and streaming.

What is looked for is what the lab's blind indexes can match: NIRs (also the INS value, which is a
NIR) anywhere in any field, checked with the identity layer's own validation (python-stdnum key),
and pairs of a name and a birth date where the file names its columns (a CSV header, a SQL
``CREATE TABLE``, ``INSERT INTO t (columns)`` or ``COPY t (columns)``). Rows are never kept: each
candidate carries its line number and the normalised value, which the caller turns into a blind
index at once.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from labvault.errors import InvalidInput, LabvaultError
from labvault.identity.patient_data import name_birth_key
from labvault.identity.validation import normalize_nir

MAX_LINE = 16 * 1024 * 1024  # a mysqldump extended INSERT line is ~1 MiB; beyond this, refuse


class LineSource(Protocol):
    """A binary file, or anything read line by line like one."""

    def readline(self, size: int = -1, /) -> bytes: ...


class BreachInputError(LabvaultError):
    """The file cannot be read as a CSV or SQL text dump; the message names the line."""


class Kind(StrEnum):
    NIR = "nir"  # also looked up as an INS
    NAME_BIRTH = "name_birth_date"


@dataclass(frozen=True)
class Candidate:
    kind: Kind
    line: int
    value: str  # NIR: its compact form; NAME_BIRTH: the name_birth_key (what the index hashes)
    name: str = ""  # NAME_BIRTH: the name as written, for the index function
    birth_date: dt.date | None = None


# --- columns -------------------------------------------------------------------------------------

_NAME_COLUMNS = frozenset(
    {
        "nom", "nom_naissance", "nom_de_naissance", "birth_name", "birthname", "last_name", "lastname",
        "family_name", "surname", "patronyme", "name", "nom_patient", "patient_nom", "nom_usage",
        "nom_d_usage", "nom_utilise", "used_name", "married_name", "nom_marital", "nom_epouse",
    }
)  # fmt: skip
_DATE_COLUMNS = frozenset(
    {
        "date_naissance", "date_de_naissance", "datenaissance", "ddn", "dob", "birth_date", "birthdate",
        "date_of_birth", "naissance", "ne_le", "nee_le", "ne_e_le", "dt_naissance", "date_nais",
    }
)  # fmt: skip


def column_key(name: str) -> str:
    """``"Date de naissance"`` -> ``date_de_naissance``; quotes and backticks dropped."""
    text = unicodedata.normalize("NFKD", name.strip().strip("`\"'[]"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


@dataclass(frozen=True)
class Columns:
    """Where the names and birth dates are in a row of a known layout."""

    names: tuple[int, ...]
    dates: tuple[int, ...]

    @classmethod
    def of(cls, header: Sequence[str]) -> Columns:
        keys = [column_key(h) for h in header]
        return cls(
            tuple(i for i, k in enumerate(keys) if k in _NAME_COLUMNS),
            tuple(i for i, k in enumerate(keys) if k in _DATE_COLUMNS),
        )


NO_COLUMNS = Columns((), ())

# --- values --------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s.\-]+")
# 15 NIR characters (digits; 2A/2B for Corsica), a separator allowed between any two of them.
_NIR_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[1-478](?:[ .\-]?[0-9ABab]){14}(?![0-9A-Za-z])")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y%m%d", "%Y/%m/%d")


def nirs_in(value: str) -> list[str]:
    """Valid NIRs (key checked) in one field: the whole field, or NIR-shaped runs inside it."""
    if len(value) < 15:
        return []
    compact = _SEPARATORS.sub("", value)
    found: list[str] = []
    if len(compact) == 15:
        found.extend(_valid_nir(compact))
    if not found and len(value) <= 100_000:
        for match in _NIR_IN_TEXT.finditer(value):
            found.extend(_valid_nir(match.group()))
    return found


def _valid_nir(text: str) -> list[str]:
    try:
        return [normalize_nir(text)]
    except InvalidInput:
        return []


def parse_date(value: str) -> dt.date | None:
    text = value.strip()[:10] if len(value.strip()) >= 10 else value.strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def row_candidates(line: int, values: Sequence[str | None], columns: Columns) -> Iterator[Candidate]:
    for value in values:
        if value:
            for nir in nirs_in(value):
                yield Candidate(Kind.NIR, line, nir)
    dates = [parse_date(values[i] or "") for i in columns.dates if i < len(values)]
    for i in columns.names:
        name = values[i] if i < len(values) else None
        if not name:
            continue
        for birth_date in dates:
            if birth_date is None:
                continue
            try:
                key = name_birth_key(name, birth_date)
            except InvalidInput:
                continue
            yield Candidate(Kind.NAME_BIRTH, line, key, name, birth_date)


# --- lines ---------------------------------------------------------------------------------------


def text_lines(stream: LineSource) -> Iterator[tuple[int, str]]:
    """(line number, text) of a binary stream: UTF-8 (BOM dropped), else Windows-1252 line by line
    (French exports often are); binary data or absurdly long lines are refused, naming the line."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            raise BreachInputError(f"line {number}: longer than {MAX_LINE // (1024 * 1024)} MiB")
        if b"\x00" in raw:
            raise BreachInputError(f"line {number}: binary data (NUL byte): not a CSV or SQL text dump")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                yield number, raw.decode("cp1252")
            except UnicodeDecodeError:
                raise BreachInputError(f"line {number}: neither UTF-8 nor Windows-1252 text") from None


def chain_lines(head: list[tuple[int, str]], rest: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield from head
    yield from rest


def csv_candidates(lines: Iterable[tuple[int, str]]) -> Iterator[Candidate]:
    """A CSV (``,``, ``;``, tab or ``|``; quoted fields may span lines). A first row that holds no
    identifier or date is its header, which says where names and birth dates are."""
    numbered = iter(lines)
    first = next(numbered, None)
    if first is None:
        return
    starts: list[int] = []  # line number of each physical line the reader took, in order

    def texts() -> Iterator[str]:
        for number, text in chain_lines([first], numbered):
            starts.append(number)
            yield text

    reader = csv.reader(texts(), _dialect(first[1]))
    columns: Columns | None = None
    while True:
        taken = len(starts)
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BreachInputError(f"line {starts[-1] if starts else 1}: unreadable CSV ({exc})") from None
        if not any(row):
            continue
        line = starts[taken] if taken < len(starts) else starts[-1]
        if columns is None:
            columns = Columns.of(row) if _looks_like_header(row) else NO_COLUMNS
            if columns is not NO_COLUMNS:
                continue
        yield from row_candidates(line, row, columns)


def _dialect(first_line: str) -> type[csv.Dialect]:
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _looks_like_header(row: Sequence[str]) -> bool:
    """A header names columns: no field of it is a NIR or a date."""
    return bool(row) and not any(nirs_in(v) or parse_date(v) for v in row if v)
