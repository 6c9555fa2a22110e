"""E1394 / LIS2-A2 records: one message's text (records separated by CR) read into typed records.

``parse_message`` is the entry point: the H record's own delimiters, then each record by its type
letter, then the message's tree (grouping.py). Every refusal is a RecordError naming the record
number (its line in the message), its type and field, and the reason, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from labvault.interop.astm.errors import RecordError
from labvault.interop.astm.fields import Delimiters, split_record
from labvault.interop.astm.grouping import group
from labvault.interop.astm.model import (
    AstmMessage,
    Comment,
    Header,
    Manufacturer,
    Order,
    Patient,
    PatientName,
    Query,
    Record,
    Result,
    ResultStatus,
    Terminator,
    TestId,
)
from labvault.interop.astm.values import FieldReader

SEXES = frozenset({"M", "F", "U"})
"""Patient field 9."""

_LINES = re.compile(r"\r\n|\r|\n")


def parse_message(text: str) -> AstmMessage:
    """One message, H to L. Records end with CR (CR LF and LF, as captured files have them, are
    read alike); empty lines are skipped but counted, so record numbers are line numbers."""
    lines = [(n, line) for n, line in enumerate(_LINES.split(text), start=1) if line]
    if not lines:
        raise RecordError(1, "", None, "empty message")
    first_number, first = lines[0]
    if not first.startswith("H"):
        raise RecordError(first_number, "", 1, "a message starts with a header record (H)")
    delimiters = Delimiters.from_header(first, first_number)
    return group([parse_record(line, delimiters, n) for n, line in lines])


def parse_record(line: str, delimiters: Delimiters, number: int) -> Record:
    """One record's line (without its CR), read with the message's delimiters."""
    letter = line.split(delimiters.field, 1)[0]
    parser = _PARSERS.get(letter)
    if parser is None:
        raise RecordError(number, "", 1, "unknown record type")
    return parser(FieldReader(split_record(line, delimiters, number, letter), number, letter), delimiters)


def _tests(reader: FieldReader, n: int) -> tuple[TestId, ...]:
    return tuple(TestId.from_components(r) for r in reader.repeats(n) if any(r))


def _header(r: FieldReader, delimiters: Delimiters) -> Header:
    return Header(
        number=r.record_number,
        delimiters=delimiters,
        message_id=r.optional(3),
        sender=r.components(5),
        receiver=r.optional(10),
        processing_id=r.optional(12),
        version=r.optional(13),
        timestamp=r.timestamp(14),
        fields=r.fields,
    )


def _patient(r: FieldReader, _: Delimiters) -> Patient:
    name = r.components(6)
    return Patient(
        number=r.record_number,
        sequence=r.sequence(),
        practice_id=r.optional(3),
        lab_id=r.optional(4),
        alternate_id=r.optional(5),
        name=PatientName(*name[:5]),
        birthdate=r.date(8),
        sex=r.choice(9, SEXES),
        fields=r.fields,
    )


def _order(r: FieldReader, _: Delimiters) -> Order:
    return Order(
        number=r.record_number,
        sequence=r.sequence(),
        specimen_id=r.text(3),
        specimen_parts=r.components(3),
        instrument_specimen_id=r.optional(4),
        instrument_specimen_parts=r.components(4),
        tests=_tests(r, 5),
        priority=r.optional(6),
        requested_at=r.timestamp(7),
        collected_at=r.timestamp(8),
        action_code=r.optional(12),
        report_type=r.optional(26),
        fields=r.fields,
    )


def _result(r: FieldReader, _: Delimiters) -> Result:
    test = r.components(3)
    if not any(test):
        raise r.refuse(3, "universal test id is empty")
    status = r.choice(9, {s.value for s in ResultStatus})
    return Result(
        number=r.record_number,
        sequence=r.sequence(),
        test=TestId.from_components(test),
        value=r.text(4),
        value_parts=r.components(4),
        units=r.optional(5),
        reference_range=r.optional(6),
        abnormal_flags=r.optional(7),
        abnormality_nature=r.optional(8),
        status=None if status is None else ResultStatus(status),
        operator=r.optional(11),
        started_at=r.timestamp(12),
        completed_at=r.timestamp(13),
        instrument=r.optional(14),
        fields=r.fields,
    )


def _comment(r: FieldReader, _: Delimiters) -> Comment:
    return Comment(
        number=r.record_number,
        sequence=r.sequence(),
        source=r.optional(3),
        text=r.components(4),
        comment_type=r.optional(5),
        fields=r.fields,
    )


def _query(r: FieldReader, _: Delimiters) -> Query:
    return Query(
        number=r.record_number,
        sequence=r.sequence(),
        starting_range=r.components(3),
        ending_range=r.components(4),
        tests=_tests(r, 5),
        request_status=r.optional(13),
        fields=r.fields,
    )


def _raw(r: FieldReader, _: Delimiters) -> Manufacturer:
    return Manufacturer(number=r.record_number, record_type=r.record_type, fields=r.fields)


def _terminator(r: FieldReader, _: Delimiters) -> Terminator:
    return Terminator(number=r.record_number, sequence=r.sequence(), code=r.optional(3), fields=r.fields)


_PARSERS: dict[str, Callable[[FieldReader, Delimiters], Record]] = {
    "H": _header,
    "P": _patient,
    "O": _order,
    "R": _result,
    "C": _comment,
    "Q": _query,
    "M": _raw,
    "S": _raw,
    "L": _terminator,
}
