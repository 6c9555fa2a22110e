"""Why a message is refused, in HL7's own terms: the acknowledgement code (AE: the message was
understood and is wrong; AR: it cannot be handled here), the error code of HL7 table 0357, and the
place (segment, its occurrence, field, component) the ERR segment names. Never the value: an
acknowledgement and a dead letter's reason travel and get pasted into tickets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from labvault.errors import LabvaultError


class AckCode(StrEnum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


class ErrorCode(StrEnum):
    """HL7 table 0357 (message error condition codes), the ones labvault answers with."""

    SEGMENT_SEQUENCE = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE = "102"
    TABLE_VALUE_NOT_FOUND = "103"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT = "201"
    UNSUPPORTED_PROCESSING_ID = "202"
    UNSUPPORTED_VERSION = "203"
    UNKNOWN_KEY = "204"
    DUPLICATE_KEY = "205"
    APPLICATION_INTERNAL = "207"

    @property
    def text(self) -> str:
        return _TEXTS[self.value]


_TEXTS = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "207": "Application internal error",
}


@dataclass(frozen=True)
class Location:
    """Where in the message (ERR-2): ``OBX`` #3, field 3, component 1 reads ``OBX[3]-3.1``."""

    segment: str
    sequence: int = 1  # which occurrence of the segment, from 1
    field: int | None = None
    component: int | None = None

    def __str__(self) -> str:
        text = f"{self.segment}[{self.sequence}]"
        if self.field is not None:
            text += f"-{self.field}"
            if self.component is not None:
                text += f".{self.component}"
        return text


class Hl7Refusal(LabvaultError):
    """A message refused, with what its acknowledgement says: ``OBX[2]-3: unknown LOINC code``."""

    def __init__(self, ack: AckCode, code: ErrorCode, where: Location | None, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.ack = ack
        self.code = code
        self.where = where
        self.reason = reason


def error(code: ErrorCode, where: Location | None, reason: str) -> Hl7Refusal:
    """The message is wrong (AE): the sender must fix it."""
    return Hl7Refusal(AckCode.ERROR, code, where, reason)


def reject(code: ErrorCode, where: Location | None, reason: str) -> Hl7Refusal:
    """The message cannot be handled here (AR): its type, version or character set."""
    return Hl7Refusal(AckCode.REJECT, code, where, reason)
