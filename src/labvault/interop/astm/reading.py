"""One parsed E1394 message read as the results the intake enters, and the places a refusal names.

A place is ``R[3]-4``: the record type, its ordinal among the message's records of that type (from
1), the field; never a value. The ordinal is the message's, not the record's sequence number (R
sequence numbers start again under every order, so they would not say which R).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from labvault.interop.astm.errors import RecordError
from labvault.interop.astm.fields import join_record
from labvault.interop.astm.model import AstmMessage, Record, ResultStatus
from labvault.interop.intake import Measured

ENTERED = frozenset({ResultStatus.FINAL, ResultStatus.CORRECTION, ResultStatus.PRELIMINARY})
"""Result statuses entered; an empty status (the field is optional, and analyzers that leave it
empty send final results) is entered too. Others (X cannot be done, I pending, ...) are skipped."""
MAX_CONTROL_ID = 64
_LINES = re.compile(r"\r\n|\r|\n")


class MessageRefused(Exception):
    """The message cannot be entered: ``where`` (``O[1]-3``) and ``reason``, never a value."""

    def __init__(self, where: str | None, reason: str) -> None:
        super().__init__(f"{where or 'message'}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class Reading:
    """One result to enter, and the records it came from (for a refusal's place)."""

    measured: Measured
    result_at: str
    order_at: str
    comment_at: str | None


@dataclass(frozen=True)
class Readings:
    readings: tuple[Reading, ...]  # QC orders' results included, marked ``qc`` (the intake sorts them)
    not_reported: int  # results whose status is not one entered (X, I, ...); QC without a lot id

    @property
    def skipped(self) -> int:
        return self.not_reported


def letter(record: Record) -> str:
    """A record's type letter (its field 1)."""
    return record.fields[0][0][0]


def places(message: AstmMessage) -> dict[int, str]:
    """Each record's place (``R[2]``) by its record number."""
    seen: dict[str, int] = {}
    out: dict[int, str] = {}
    for record in message.records:
        kind = letter(record)
        seen[kind] = seen.get(kind, 0) + 1
        out[record.number] = f"{kind}[{seen[kind]}]"
    return out


def read_results(message: AstmMessage) -> Readings:
    """Each R with a status entered, as a :class:`Measured`; those of an order flagged QC (O-12
    action code ``Q``) marked ``qc``, their specimen id being the control's lot id.

    The barcode is the order's specimen id (O-3, first component) and the test code the
    instrument's own (R-3, 4th component, ``loinc=False``): the intake maps it through the
    interface's instrument codes (interop/instrument_codes.py), else takes it as the lab's
    catalogue code. The patient ids of P are not checked against
    the tube's patient: labvault sends no orders to analyzers yet, so what they hold is not its id."""
    at = places(message)
    readings: list[Reading] = []
    not_reported = 0
    for patient in message.patients:
        for group in patient.orders:
            order = group.order
            for result_group in group.results:
                result = result_group.result
                if result.status is not None and result.status not in ENTERED:
                    not_reported += 1
                    continue
                if order.is_qc and not order.specimen_id.strip():  # a control without its lot id
                    not_reported += 1
                    continue
                if not order.specimen_id.strip():
                    raise MessageRefused(f"{at[order.number]}-3", "no specimen id")
                if not result.test.code.strip():
                    raise MessageRefused(f"{at[result.number]}-3", "no instrument test code (4th component)")
                comments = [" ".join(c for c in comment.text if c) for comment in result_group.comments]
                comment = " ".join(c for c in comments if c) or None
                measured = Measured(
                    barcode=order.specimen_id.strip(),
                    code=result.test.code.strip(),
                    loinc=False,
                    value=result.value,
                    unit=result.units or "",
                    comment=comment,
                    correction=result.status is ResultStatus.CORRECTION,
                    qc=order.is_qc,
                )
                first_comment = result_group.comments[0].number if result_group.comments else None
                readings.append(
                    Reading(
                        measured,
                        at[result.number],
                        at[order.number],
                        None if first_comment is None else at[first_comment],
                    )
                )
    return Readings(tuple(readings), not_reported)


def canonical_text(message: AstmMessage) -> str:
    """The message written back from its records: the same for a message read off the line and
    one replayed from a capture (line ends and escapes written one way)."""
    delimiters = message.header.delimiters
    lines = [join_record(letter(r), r.fields[1:], delimiters) for r in message.records]
    return "\r".join(lines) + "\r"


def control_id(message: AstmMessage) -> str:
    """ASTM has no control id per message: the header's message control id (H-3) when there is one
    (a resend is recognised even if the analyzer re-stamps H-14), else the SHA-256 of the message.

    Caveat: an analyzer that sends the same H-3 for different messages would see the later ones
    acknowledged as repeats and not entered; such an analyzer needs the hash (a per-instrument
    setting, later)."""
    given = (message.header.message_id or "").strip()
    if given and len(given) <= MAX_CONTROL_ID:
        return given
    return digest(canonical_text(message))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_place(text: str, error: RecordError) -> str:
    """Where a parse error lies, as ``P[1]-8``: the ordinal counted on the text's lines."""
    lines = _LINES.split(text)
    kind = error.record_type
    if not kind:
        where = f"line[{error.record_number}]"
    else:
        before = lines[: error.record_number - 1]
        where = f"{kind}[{1 + sum(1 for line in before if line[:1] == kind)}]"
    return where if error.field_number is None else f"{where}-{error.field_number}"
