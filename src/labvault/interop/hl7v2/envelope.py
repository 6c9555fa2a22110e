"""The envelope of an inbound HL7 v2 message: its bytes decoded in the character set MSH-18 names,
its segments parsed (python-hl7), and the header checked before anything else is read: message
type (MSH-9), control id (MSH-10), processing id (MSH-11), version (MSH-12)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import hl7
import hl7.util

from labvault.interop.hl7v2.refusal import ErrorCode, Hl7Refusal, Location, error, reject

MAX_MESSAGE_BYTES = 1024 * 1024
VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})
PROCESSING_IDS = frozenset({"P", "T", "D"})  # production, training, debugging
# MSH-18 (HL7 table 0211) -> Python codec. Empty: HL7's default, ASCII.
CHARSETS = {
    "": "ascii",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "iso8859-1",
    "8859/15": "iso8859-15",
}
_NEWLINES = re.compile(rb"\r\n|\n|\r")
MAX_CONTROL_ID = 199  # MSH-10 is an ST of 199 characters in 2.5
_MSH = Location("MSH")
# python-hl7 logs a value it cannot unescape, which is patient data, to a logger named after its
# file: never in labvault's logs. A filter, not ``disabled``: logging.config (uvicorn's, any
# dictConfig) re-enables the loggers it does not name, and keeps their filters.
logging.getLogger(hl7.util.__file__).addFilter(lambda _record: False)


@dataclass(frozen=True)
class Envelope:
    """A parsed message and what its header says."""

    message: hl7.Message
    message_type: str  # MSH-9.1, e.g. ORU
    trigger: str  # MSH-9.2, e.g. R01
    control_id: str  # MSH-10
    version: str  # MSH-12.1
    sending_application: str  # MSH-3.1
    sending_facility: str  # MSH-4.1


def _msh_field(header: bytes, number: int) -> bytes:
    """MSH-``number`` from the raw header line (MSH-1 is the separator itself)."""
    separator = header[3:4]
    fields = header.split(separator)
    index = number - 1
    return fields[index] if 0 < index < len(fields) else b""


def decode(raw: bytes) -> str:
    """The message's text, segments separated by CR (LF and CRLF, found in the wild, accepted), in
    the character set its MSH-18 declares; an undeclared or unsupported one is refused."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise reject(ErrorCode.APPLICATION_INTERNAL, None, f"message over {MAX_MESSAGE_BYTES} bytes")
    text = _NEWLINES.sub(b"\r", raw.strip(b"\r\n\x00 \t"))
    if not text.startswith(b"MSH") or len(text) < 8:
        raise error(ErrorCode.SEGMENT_SEQUENCE, _MSH, "the message must begin with an MSH segment")
    header = text.split(b"\r", 1)[0]
    declared = _msh_field(header, 18).split(header[4:5] or b"^", 1)[0].strip().upper()
    try:
        charset_name = declared.decode("ascii")
    except UnicodeDecodeError:
        raise error(ErrorCode.DATA_TYPE, Location("MSH", 1, 18), "not an HL7 character set name") from None
    codec = CHARSETS.get(charset_name)
    if codec is None:
        raise reject(
            ErrorCode.TABLE_VALUE_NOT_FOUND,
            Location("MSH", 1, 18),
            f"unsupported character set; one of {', '.join(sorted(n for n in CHARSETS if n))}",
        )
    try:
        return text.decode(codec)
    except UnicodeDecodeError as exc:
        segment = text[: exc.start].count(b"\r") + 1
        raise error(
            ErrorCode.DATA_TYPE,
            Location("MSH", 1, 18),
            f"segment {segment} holds bytes that are not {charset_name or 'ASCII'} "
            "(the character set MSH-18 declares)",
        ) from None


def parse(raw: bytes) -> Envelope:
    """Decode, parse and check the header."""
    text = decode(raw)
    try:
        message = hl7.parse(text)
    except Exception:  # python-hl7 raises bare errors on malformed separators
        raise error(ErrorCode.DATA_TYPE, _MSH, "the message cannot be parsed as HL7 v2") from None
    try:
        msh = message.segment("MSH")
    except KeyError:
        raise error(ErrorCode.SEGMENT_SEQUENCE, _MSH, "no MSH segment") from None
    control_id = component(msh, 10)
    if not control_id:
        raise error(
            ErrorCode.REQUIRED_FIELD_MISSING, Location("MSH", 1, 10), "the message control id is required"
        )
    if len(control_id) > MAX_CONTROL_ID:
        raise error(ErrorCode.DATA_TYPE, Location("MSH", 1, 10), f"over {MAX_CONTROL_ID} characters")
    envelope = Envelope(
        message=message,
        message_type=component(msh, 9),
        trigger=component(msh, 9, 2),
        control_id=control_id,
        version=component(msh, 12),
        sending_application=component(msh, 3),
        sending_facility=component(msh, 4),
    )
    check_header(envelope, component(msh, 11))
    return envelope


class HeaderRefusal(Hl7Refusal):
    """A header labvault cannot take, once the control id is known: the acknowledgement still
    names the message it refuses (MSA-2)."""

    def __init__(self, refusal: Hl7Refusal, envelope: Envelope) -> None:
        super().__init__(refusal.ack, refusal.code, refusal.where, refusal.reason)
        self.envelope = envelope


def check_header(envelope: Envelope, processing: str) -> None:
    """Version (MSH-12), processing id (MSH-11) and type (MSH-9)."""
    refusal: Hl7Refusal | None = None
    if envelope.version not in VERSIONS:
        refusal = reject(
            ErrorCode.UNSUPPORTED_VERSION,
            Location("MSH", 1, 12),
            f"unsupported HL7 version; one of {', '.join(sorted(VERSIONS))}",
        )
    elif processing and processing not in PROCESSING_IDS:
        refusal = reject(
            ErrorCode.UNSUPPORTED_PROCESSING_ID, Location("MSH", 1, 11), "processing id must be P, T or D"
        )
    elif not envelope.message_type:
        refusal = error(
            ErrorCode.REQUIRED_FIELD_MISSING, Location("MSH", 1, 9), "the message type is required"
        )
    if refusal is not None:
        raise HeaderRefusal(refusal, envelope)


def component(segment: hl7.Segment, field: int, comp: int = 1, repeat: int = 1, sub: int = 1) -> str:
    """One component of a segment's field, unescaped (python-hl7 applies the message's escape
    sequences: the segment knows its message's separators), ``""`` when absent. Field numbers as
    the standard counts them."""
    try:
        value = segment.extract_field(
            field_num=field, repeat_num=repeat, component_num=comp, subcomponent_num=sub
        )
    except (IndexError, KeyError, ValueError, AttributeError, TypeError):
        return ""
    return str(value).strip() if value else ""


def repetitions(segment: hl7.Segment, field: int) -> int:
    """How many repetitions the field holds (0 when absent or empty)."""
    try:
        value = segment(field)
    except (IndexError, KeyError):
        return 0
    if isinstance(value, hl7.Field):
        return len(value) if str(value) else 0
    return 1 if str(value) else 0
