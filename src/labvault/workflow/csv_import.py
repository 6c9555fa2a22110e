"""Reading a results CSV (an analyzer or middleware export) into rows to enter. Pure: no I/O.

The file is ``barcode,test_code,value[,comment]`` with a header line, UTF-8 (a byte-order mark is
accepted), separated by ``,`` or ``;`` (found from the header: French exports use ``;`` so that
``5,4`` can stay a decimal comma). Every refusal names the line of the file and the column, never
the value itself, so that an error message pasted into a ticket carries no result.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from labvault.errors import InvalidInput

REQUIRED = ("barcode", "test_code", "value")
OPTIONAL = ("comment",)
DELIMITERS = (",", ";")
MAX_ROWS = 5000  # what one ResultService.enter batch accepts
MAX_FIELD = 2000


class CsvLineError(InvalidInput):
    """One refused line: ``str()`` reads ``line 14, value: is not a number``."""

    def __init__(self, line: int, column: str | None, reason: str) -> None:
        where = f"line {line}" if column is None else f"line {line}, {column}"
        super().__init__(where, reason)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class CsvResultRow:
    """One result to enter: which tube, which test, the value as typed, and where it came from."""

    line: int
    barcode: str
    test_code: str
    value: str
    comment: str | None = None


def decode(data: bytes) -> str:
    """UTF-8 text without its byte-order mark; an undecodable byte is refused with its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvLineError(line, None, "is not valid UTF-8 (save the export as UTF-8)") from None


def _header_fields(line: str, delimiter: str) -> list[str]:
    return [field.strip().lower() for field in next(csv.reader([line], delimiter=delimiter), [])]


def detect_delimiter(header: str) -> str:
    """The separator under which the header names the required columns; the sniffer decides
    only if both would (a header cannot hold both separators legitimately otherwise)."""
    fits = [d for d in DELIMITERS if set(REQUIRED) <= set(_header_fields(header, d))]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise CsvLineError(
            1,
            None,
            "the header must name the columns " + ", ".join(REQUIRED) + " (and optionally comment), "
            "separated by ',' or ';'",
        )
    try:
        return csv.Sniffer().sniff(header, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return DELIMITERS[0]


def _columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for position, name in enumerate(header):
        if not name:
            raise CsvLineError(1, None, f"column {position + 1} of the header has no name")
        if name not in REQUIRED + OPTIONAL:
            raise CsvLineError(
                1, None, f"unknown column {name!r} (expected {', '.join(REQUIRED + OPTIONAL)})"
            )
        if name in columns:
            raise CsvLineError(1, None, f"column {name!r} appears twice")
        columns[name] = position
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise CsvLineError(1, None, "missing column " + ", ".join(missing))
    return columns


def parse_results_csv(text: str | bytes, *, max_rows: int = MAX_ROWS) -> list[CsvResultRow]:
    """Every data row of the file, or a :class:`CsvLineError` for the first bad line.

    Blank lines are skipped; a line whose quoted field spans several physical lines is numbered
    by the line it starts on. Test codes are upper-cased; values are kept as typed (the service
    parses them against the test: number, code or text)."""
    if isinstance(text, bytes):
        text = decode(text)
    text = text.removeprefix("\ufeff")
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    if not first.strip():
        raise CsvLineError(1, None, "the file must start with a header line (barcode, test_code, value)")
    delimiter = detect_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[CsvResultRow] = []
    seen: dict[tuple[str, str], int] = {}
    columns: dict[str, int] | None = None
    next_line = 1
    while True:
        start = next_line
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CsvLineError(start, None, f"malformed CSV ({exc})") from None
        next_line = reader.line_num + 1
        if columns is None:
            columns = _columns([field.strip().lower() for field in record])
            continue
        if not record or all(not field.strip() for field in record):
            continue
        rows.append(_row(start, record, columns, delimiter))
        key = (rows[-1].barcode, rows[-1].test_code)
        if key in seen:
            raise CsvLineError(start, "test_code", f"same barcode and test as line {seen[key]}")
        seen[key] = start
        if len(rows) > max_rows:
            raise CsvLineError(start, None, f"more than {max_rows} results: split the file")
    if columns is None:
        raise CsvLineError(1, None, "the file must start with a header line (barcode, test_code, value)")
    if not rows:
        raise CsvLineError(1, None, "no result rows after the header")
    return rows


def _row(line: int, record: list[str], columns: dict[str, int], delimiter: str) -> CsvResultRow:
    if len(record) != len(columns):
        hint = ""
        if delimiter == "," and len(record) > len(columns):
            hint = " (a decimal comma must be quoted in a ','-separated file, or use ';')"
        raise CsvLineError(line, None, f"{len(record)} fields where the header has {len(columns)}{hint}")
    values = {name: record[position].strip() for name, position in columns.items()}
    for name, value in values.items():
        if len(value) > MAX_FIELD:
            raise CsvLineError(line, name, f"is longer than {MAX_FIELD} characters")
        if "\x00" in value:
            raise CsvLineError(line, name, "contains a NUL character")
    for name in REQUIRED:
        if not values[name]:
            raise CsvLineError(line, name, "is empty")
    barcode = values["barcode"]
    if not barcode.isprintable():
        raise CsvLineError(line, "barcode", "must be printable characters")
    test_code = values["test_code"].upper()
    if not test_code.isascii() or not all(ch.isalnum() or ch in "_-" for ch in test_code):
        raise CsvLineError(line, "test_code", "must be a catalogue code (letters, digits, '_' or '-')")
    return CsvResultRow(
        line=line,
        barcode=barcode,
        test_code=test_code,
        value=values["value"],
        comment=values.get("comment") or None,
    )
