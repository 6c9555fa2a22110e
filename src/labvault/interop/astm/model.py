"""The typed records of an E1394 / LIS2-A2 message, and the message itself.

Each record keeps ``number`` (its line in the message, from 1: what errors name) and ``fields``
(every field, decoded: what an analyzer puts in fields not mapped here is still there). Fields
that identify a patient are left out of ``repr``, so that a log line or a failed assertion does not
print them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime

from labvault.interop.astm.fields import Delimiters, Field

QC_ACTION_CODE = "Q"
"""Order field 12 (action code) ``Q``: the specimen is a quality-control material (see Order.is_qc)."""


class ResultStatus(enum.StrEnum):
    """Result field 9."""

    CORRECTION = "C"
    PRELIMINARY = "P"
    FINAL = "F"
    CANNOT_BE_DONE = "X"
    IN_INSTRUMENT_PENDING = "I"
    PARTIAL = "S"
    MIC_LEVEL = "M"
    PREVIOUSLY_TRANSMITTED = "R"
    NEW = "N"
    QUERY_RESPONSE = "Q"
    OPERATOR_VERIFIED = "V"
    WARNING = "W"


@dataclass(frozen=True)
class TestId:
    """A universal test id, ``universal^name^type^local code^...``: analyzers send ``^^^code``
    (and after it, e.g., a dilution), so ``code`` (the 4th component) is the instrument's test code."""

    __test__ = False  # not a pytest test class

    universal_id: str = ""
    name: str = ""
    type: str = ""
    code: str = ""
    extra: tuple[str, ...] = ()

    @classmethod
    def from_components(cls, components: tuple[str, ...]) -> TestId:
        padded = (*components, "", "", "", "")
        return cls(padded[0], padded[1], padded[2], padded[3], tuple(components[4:]))


@dataclass(frozen=True)
class Header:
    """H: who sends, in which version, when; and the delimiters of the whole message."""

    number: int
    delimiters: Delimiters
    message_id: str | None
    sender: tuple[str, ...]
    receiver: str | None
    processing_id: str | None
    version: str | None
    timestamp: datetime | None
    fields: tuple[Field, ...] = field(repr=False)

    @property
    def sender_name(self) -> str:
        return self.sender[0]


@dataclass(frozen=True)
class PatientName:
    last: str = ""
    first: str = ""
    middle: str = ""
    suffix: str = ""
    title: str = ""


@dataclass(frozen=True)
class Patient:
    """P: the patient the following orders are for, as the LIS or the analyzer knows them."""

    number: int
    sequence: int
    practice_id: str | None = field(repr=False)
    lab_id: str | None = field(repr=False)
    alternate_id: str | None = field(repr=False)
    name: PatientName = field(repr=False)
    birthdate: date | None = field(repr=False)
    sex: str | None = field(repr=False)
    fields: tuple[Field, ...] = field(repr=False)


@dataclass(frozen=True)
class Order:
    """O: one specimen and the tests asked of it.

    QC: LIS2-A2 has no quality-control record. Analyzers mark a QC specimen in the order, most often
    with action code ``Q`` (field 12), which is what ``is_qc`` reads; ``report_type`` and vendor
    fields stay available for analyzers that mark it otherwise."""

    number: int
    sequence: int
    specimen_id: str
    specimen_parts: tuple[str, ...]
    instrument_specimen_id: str | None
    instrument_specimen_parts: tuple[str, ...]
    tests: tuple[TestId, ...]
    priority: str | None
    requested_at: datetime | None
    collected_at: datetime | None
    action_code: str | None
    report_type: str | None
    fields: tuple[Field, ...] = field(repr=False)

    @property
    def is_qc(self) -> bool:
        return self.action_code == QC_ACTION_CODE


@dataclass(frozen=True)
class Result:
    """R: one measured value, as the analyzer reports it (text: ``<0.01`` and ``>100`` are values)."""

    number: int
    sequence: int
    test: TestId
    value: str
    value_parts: tuple[str, ...]
    units: str | None
    reference_range: str | None
    abnormal_flags: str | None
    abnormality_nature: str | None
    status: ResultStatus | None
    operator: str | None
    started_at: datetime | None
    completed_at: datetime | None
    instrument: str | None
    fields: tuple[Field, ...] = field(repr=False)


@dataclass(frozen=True)
class Comment:
    """C: free text about the record before it."""

    number: int
    sequence: int
    source: str | None
    text: tuple[str, ...] = field(repr=False)
    comment_type: str | None
    fields: tuple[Field, ...] = field(repr=False)


@dataclass(frozen=True)
class Query:
    """Q: the analyzer asks for the orders of a specimen (host query). The starting range's
    components are patient id, specimen id (the barcode, as in ``^barcode``), then vendor parts."""

    number: int
    sequence: int
    starting_range: tuple[str, ...]
    ending_range: tuple[str, ...]
    tests: tuple[TestId, ...]
    request_status: str | None
    fields: tuple[Field, ...] = field(repr=False)

    @property
    def patient_id(self) -> str:
        return self.starting_range[0]

    @property
    def specimen_id(self) -> str:
        return self.starting_range[1] if len(self.starting_range) > 1 else ""


@dataclass(frozen=True)
class Manufacturer:
    """M: vendor-defined, kept as its fields. ``record_type`` is ``M``, or ``S`` for the scientific
    record some analyzers send, kept the same way."""

    number: int
    record_type: str
    fields: tuple[Field, ...] = field(repr=False)


@dataclass(frozen=True)
class Terminator:
    """L: the end of the message; ``code`` N normal, T sender aborted, R receiver asked to abort,
    E error, Q error in the last query, I no information for the query, F query answered."""

    number: int
    sequence: int
    code: str | None
    fields: tuple[Field, ...] = field(repr=False)


Record = Header | Patient | Order | Result | Comment | Query | Manufacturer | Terminator


@dataclass(frozen=True)
class ResultGroup:
    result: Result
    comments: tuple[Comment, ...]


@dataclass(frozen=True)
class OrderGroup:
    order: Order
    comments: tuple[Comment, ...]
    results: tuple[ResultGroup, ...]


@dataclass(frozen=True)
class PatientGroup:
    patient: Patient
    comments: tuple[Comment, ...]
    orders: tuple[OrderGroup, ...]


@dataclass(frozen=True)
class AstmMessage:
    """One message, H to L: ``records`` in order, and the same grouped (``patients``: each patient's
    orders, each order's results, with the comments that follow each)."""

    header: Header
    records: tuple[Record, ...]
    patients: tuple[PatientGroup, ...]
    queries: tuple[Query, ...]
    comments: tuple[Comment, ...]
    manufacturer: tuple[Manufacturer, ...]
    terminator: Terminator

    def results(self) -> list[tuple[Patient, Order, Result]]:
        """Every result with its order and patient, in message order: what result entry walks."""
        return [(p.patient, o.order, r.result) for p in self.patients for o in p.orders for r in o.results]
