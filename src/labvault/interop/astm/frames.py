"""E1381 / LIS1-A frames: the control characters, the checksum, building and reading one frame.

A frame is ``<STX> FN text <ETB|ETX> C1 C2 <CR><LF>``. FN is the frame number modulo 8 (a message's
first frame is 1); ETB ends an intermediate frame, ETX the last frame of a message (in practice one
E1394 record); C1 C2 is the sum of the bytes after STX up to and including ETB/ETX, modulo 256, as
two upper-case hex digits. Pure functions: the receiving state machine is in framing.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from labvault.interop.astm.errors import ChecksumMismatch, MalformedFrame

ENQ = 0x05
ACK = 0x06
NAK = 0x15
EOT = 0x04
STX = 0x02
ETX = 0x03
ETB = 0x17
CR = 0x0D
LF = 0x0A

MAX_FRAME = 247
"""The standard's limit on a whole frame, 7 characters of framing included."""
MAX_TEXT = MAX_FRAME - 7
"""Text per frame a conforming sender sends (240); receivers here tolerate more, as analyzers do."""
FRAME_NUMBERS = 8
"""Frame numbers run 1, 2 .. 7, 0, 1 ..."""

_HEX = frozenset(b"0123456789ABCDEFabcdef")


@dataclass(frozen=True)
class Frame:
    """One frame read off the line: its number, its text, and whether it ends a message (ETX)."""

    number: int
    text: bytes
    final: bool


def checksum(body: bytes) -> bytes:
    """The two upper-case hex digits of ``body``: the bytes after STX up to and including ETB/ETX."""
    return b"%02X" % (sum(body) % 256)


def build_frame(number: int, text: bytes, final: bool) -> bytes:
    """One frame; ``number`` is taken modulo 8, so callers may count frames from 1 without wrapping."""
    body = b"%d" % (number % FRAME_NUMBERS) + text + bytes([ETX if final else ETB])
    return bytes([STX]) + body + checksum(body) + bytes([CR, LF])


def parse_frame(raw: bytes, expected: int | None = None) -> Frame:
    """Read one whole frame, STX to LF. ``expected`` (the frame number the receiver waits for) names
    the frame in the error when its own number cannot be read. Raises MalformedFrame or
    ChecksumMismatch."""
    if len(raw) < 7 or raw[0] != STX:
        raise MalformedFrame(expected, "too short or not starting with STX")
    digit = raw[1]
    if not 0x30 <= digit <= 0x37:
        raise MalformedFrame(expected, "frame number is not a digit 0-7")
    number = digit - 0x30
    end = raw[-5]
    if end not in (ETX, ETB):
        raise MalformedFrame(number, "no ETX or ETB before the checksum")
    if raw[-2:] != bytes([CR, LF]):
        raise MalformedFrame(number, "trailer is not CR LF after the checksum")
    given = raw[-4:-2]
    if not all(c in _HEX for c in given):
        raise MalformedFrame(number, "checksum is not two hex digits")
    body = raw[1:-4]
    if given.upper() != checksum(body):
        raise ChecksumMismatch(number, "checksum does not match the frame's bytes")
    text = raw[2:-5]
    if any(c in (STX, ETX, ETB) for c in text):
        raise MalformedFrame(number, "control character inside the text")
    return Frame(number=number, text=text, final=end == ETX)


def frames_for(
    record_text: str, max_text: int = MAX_TEXT, first_number: int = 1, encoding: str = "latin-1"
) -> list[bytes]:
    """The frames that carry one record (an E1381 message): intermediate frames end with ETB, the
    last with ETX, numbered from ``first_number`` (modulo 8). A record ends with CR on the line: one
    is added when ``record_text`` has none. Split on bytes, so a multi-byte character may straddle
    two frames: the receiver joins bytes before decoding."""
    if max_text < 1:
        raise ValueError("max_text must be at least 1")
    text = record_text if record_text.endswith("\r") else record_text + "\r"
    data = text.encode(encoding)
    chunks = [data[i : i + max_text] for i in range(0, len(data), max_text)]
    last = len(chunks) - 1
    return [build_frame(first_number + i, chunk, i == last) for i, chunk in enumerate(chunks)]


def frames_for_records(
    records: list[str], max_text: int = MAX_TEXT, encoding: str = "latin-1"
) -> list[bytes]:
    """The frames of several records sent in one transfer, each record starting a new frame and the
    numbering running on from 1 across them (what a sender puts between ENQ and EOT)."""
    frames: list[bytes] = []
    for record in records:
        frames += frames_for(record, max_text, first_number=len(frames) + 1, encoding=encoding)
    return frames
