"""What the ASTM layer refuses, said precisely enough to act on and never with the refused data.

Frames and records carry patient names, ids and results: a message names the frame number, the
record number (its line in the message), the record type and the field number, and the reason,
never the value.
"""

from __future__ import annotations

from labvault.errors import InvalidInput, LabvaultError


class AstmError(LabvaultError):
    """Base class of every error of the ASTM layer."""


class FramingError(AstmError):
    """A frame (E1381 / LIS1-A) was refused; ``frame_number`` is the one read, or the one expected
    when the frame was too damaged to read it (None when neither is known)."""

    def __init__(self, frame_number: int | None, reason: str) -> None:
        where = "frame" if frame_number is None else f"frame {frame_number}"
        super().__init__(f"{where}: {reason}")
        self.frame_number = frame_number
        self.reason = reason


class MalformedFrame(FramingError):
    """Not ``<STX> FN text <ETB|ETX> C1 C2 <CR><LF>``: bad frame number digit, trailer, size."""


class ChecksumMismatch(FramingError):
    """The two checksum digits do not match the frame's bytes: a transmission error."""


class FrameSequenceError(FramingError):
    """A well-formed frame with a frame number other than the expected one (or the previous one
    repeated after a lost ACK)."""


class TooManyAttempts(FramingError):
    """One frame was refused as many times as the standard lets a sender try (6): the transfer is
    abandoned."""


class RecordError(AstmError, InvalidInput):
    """A record (E1394 / LIS2-A2) was refused. ``record_number`` is its line in the message (from 1),
    ``record_type`` its letter, ``field_number`` the field (the type letter is field 1), when the
    fault lies in one field."""

    def __init__(self, record_number: int, record_type: str, field_number: int | None, reason: str) -> None:
        kind = f" ({record_type})" if record_type else ""
        where = f"record {record_number}{kind}" + ("" if field_number is None else f" field {field_number}")
        InvalidInput.__init__(self, where, reason)
        self.record_number = record_number
        self.record_type = record_type
        self.field_number = field_number
