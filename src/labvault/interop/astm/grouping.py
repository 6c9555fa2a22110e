"""The records of a message, in order, turned into its tree: header comments and queries at the
top, each patient's orders, each order's results, and every comment under the record it follows.
The order of records is the standard's: a refusal names the record out of place."""

from __future__ import annotations

from dataclasses import dataclass, field

from labvault.interop.astm.errors import RecordError
from labvault.interop.astm.model import (
    AstmMessage,
    Comment,
    Header,
    Manufacturer,
    Order,
    OrderGroup,
    Patient,
    PatientGroup,
    Query,
    Record,
    Result,
    ResultGroup,
    Terminator,
)


@dataclass
class _Node:
    """A record being filled: the comments that follow it and its children."""

    record: Record
    comments: list[Comment] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)


def group(records: list[Record]) -> AstmMessage:
    """The message of ``records``: an H first, an L last, nothing out of place in between."""
    header = records[0]
    if not isinstance(header, Header):  # pragma: no cover - records.py reads the H first
        raise RecordError(1, "", None, "a message starts with a header record (H)")
    top = _Node(header)
    queries: list[Query] = []
    manufacturer: list[Manufacturer] = []
    patient: _Node | None = None
    order: _Node | None = None
    last: _Node = top
    terminator: Terminator | None = None
    for record in records[1:]:
        kind = type(record).__name__
        if terminator is not None:
            raise _misplaced(record, "record after the terminator (L)")
        if isinstance(record, Header):
            raise _misplaced(record, "second header record in one message")
        if isinstance(record, Patient):
            patient = last = _Node(record)
            order = None
            top.children.append(patient)
        elif isinstance(record, Order):
            if patient is None:
                raise _misplaced(record, "order before any patient record (P)")
            order = last = _Node(record)
            patient.children.append(order)
        elif isinstance(record, Result):
            if order is None:
                raise _misplaced(record, "result before any order record (O)")
            last = _Node(record)
            order.children.append(last)
        elif isinstance(record, Comment):
            last.comments.append(record)
        elif isinstance(record, Query):
            queries.append(record)
        elif isinstance(record, Manufacturer):
            manufacturer.append(record)
        elif isinstance(record, Terminator):
            terminator = record
        else:  # pragma: no cover - every record type is handled above
            raise AssertionError(kind)
    if terminator is None:
        raise RecordError(len(records) + 1, "L", None, "message has no terminator record (L)")
    return AstmMessage(
        header=header,
        records=tuple(records),
        patients=tuple(_patient(p) for p in top.children),
        queries=tuple(queries),
        comments=tuple(top.comments),
        manufacturer=tuple(manufacturer),
        terminator=terminator,
    )


def _misplaced(record: Record, reason: str) -> RecordError:
    letter = record.record_type if isinstance(record, Manufacturer) else _LETTERS[type(record)]
    return RecordError(record.number, letter, None, reason)


_LETTERS: dict[type, str] = {
    Header: "H",
    Patient: "P",
    Order: "O",
    Result: "R",
    Comment: "C",
    Query: "Q",
    Terminator: "L",
}


def _patient(node: _Node) -> PatientGroup:
    assert isinstance(node.record, Patient)
    return PatientGroup(node.record, tuple(node.comments), tuple(_order(o) for o in node.children))


def _order(node: _Node) -> OrderGroup:
    assert isinstance(node.record, Order)
    return OrderGroup(node.record, tuple(node.comments), tuple(_result(r) for r in node.children))


def _result(node: _Node) -> ResultGroup:
    assert isinstance(node.record, Result)
    return ResultGroup(node.record, tuple(node.comments))
