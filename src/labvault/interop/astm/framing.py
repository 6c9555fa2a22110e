"""The receiving side of E1381 / LIS1-A (the LIS receives from an analyzer), as a sans-I/O state
machine: the caller feeds it the bytes read off the line, in any chunks, and gets back events, among
them the bytes to write back (ACK, NAK). No socket, no clock: timers are the caller's, with the
standard's values below, and ``timeout()`` is what the caller calls when one expires.

Phases: idle until ENQ (answered with ACK); then frames, each good one ACKed, a bad one (checksum,
frame number, shape) NAKed so that the sender retransmits it; intermediate frames (ETB) are joined
until the frame that ends the message (ETX); EOT ends the transfer. A frame repeated with the
previous number after a lost ACK is ACKed again and not kept twice. After 6 refusals of one frame
the sender must give up (the standard's limit): the transfer is discarded and the receiver is idle.

The frame codec (checksum, ``frames_for`` for the sending side) is frames.py, re-exported here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from labvault.interop.astm.errors import (
    FrameSequenceError,
    FramingError,
    MalformedFrame,
    TooManyAttempts,
)
from labvault.interop.astm.frames import (
    ACK,
    CR,
    ENQ,
    EOT,
    ETB,
    ETX,
    FRAME_NUMBERS,
    LF,
    MAX_FRAME,
    MAX_TEXT,
    NAK,
    STX,
    Frame,
    build_frame,
    checksum,
    frames_for,
    frames_for_records,
    parse_frame,
)

__all__ = [
    "ACK",
    "CR",
    "ENQ",
    "EOT",
    "ESTABLISH_TIMEOUT",
    "ETB",
    "ETX",
    "LF",
    "MAX_ATTEMPTS",
    "MAX_FRAME",
    "MAX_TEXT",
    "NAK",
    "RECEIVE_TIMEOUT",
    "REPLY_TIMEOUT",
    "STX",
    "Event",
    "Frame",
    "FrameRejected",
    "FrameRepeated",
    "MessageReceived",
    "Receiver",
    "Reply",
    "State",
    "TransferDiscarded",
    "TransferEnded",
    "TransferStarted",
    "build_frame",
    "checksum",
    "frames_for",
    "frames_for_records",
    "messages",
    "parse_frame",
    "replies",
]

ESTABLISH_TIMEOUT = 15.0
"""Seconds a sender waits for the reply to its ENQ."""
REPLY_TIMEOUT = 15.0
"""Seconds a sender waits for the ACK or NAK of a frame."""
RECEIVE_TIMEOUT = 30.0
"""Seconds a receiver waits for the next frame or EOT before giving the transfer up."""
MAX_ATTEMPTS = 6
"""Times one frame may be sent (the first and the retransmissions) before the sender gives up."""
MAX_FRAME_BYTES = 64 * 1024
"""Default bound on one frame: oversize frames (over 247 characters) are tolerated, a line that
never ends one is not."""
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Default bound on one message joined from its ETB frames."""

_INTERRUPTS = frozenset((STX, EOT, ENQ))


class State(enum.Enum):
    """Where the receiver is: what it waits for."""

    IDLE = "idle"
    """Waits for ENQ; everything else on the line is ignored."""
    WAITING = "waiting"
    """A transfer is open: waits for STX (a frame) or EOT."""
    IN_FRAME = "in_frame"
    """Reading a frame's text, up to ETB or ETX."""
    TRAILER = "trailer"
    """Reading the checksum and CR LF after ETB or ETX."""


@dataclass(frozen=True)
class Reply:
    """Bytes to write back to the sender, at once and in order."""

    data: bytes


@dataclass(frozen=True)
class TransferStarted:
    """ENQ accepted: the caller starts its RECEIVE_TIMEOUT timer."""


@dataclass(frozen=True)
class MessageReceived:
    """A complete message (in practice one E1394 record, ending in CR): the text of its frames
    joined, as bytes (the caller decodes: a character may straddle two frames)."""

    data: bytes
    frames: int


@dataclass(frozen=True)
class FrameRejected:
    """A frame was refused (NAK sent unless ``replied`` is False: a frame cut short by a control
    character gets no reply). ``attempt`` counts the refusals of the frame expected."""

    error: FramingError
    attempt: int
    replied: bool = True


@dataclass(frozen=True)
class FrameRepeated:
    """The previous frame again (its ACK was lost): ACKed again, not kept twice."""

    number: int


@dataclass(frozen=True)
class TransferEnded:
    """EOT: the transfer is over; ``messages`` counts the messages it delivered."""

    messages: int


@dataclass(frozen=True)
class TransferDiscarded:
    """The unfinished part of a transfer was thrown away: a timeout, too many refusals of one frame,
    or EOT / ENQ in the middle of a message. Messages already delivered stand; ``frames`` counts the
    frames of the unfinished message that are lost."""

    reason: str
    frames: int
    error: FramingError | None = None


Event = (
    Reply
    | TransferStarted
    | MessageReceived
    | FrameRejected
    | FrameRepeated
    | TransferEnded
    | TransferDiscarded
)


def replies(events: list[Event]) -> bytes:
    """The bytes to write back, joined in order."""
    return b"".join(e.data for e in events if isinstance(e, Reply))


def messages(events: list[Event]) -> list[bytes]:
    """The messages completed, in order."""
    return [e.data for e in events if isinstance(e, MessageReceived)]


class Receiver:
    """The LIS's side of one connection. ``feed`` never raises on what the line carries: every fault
    is an event, so that no byte an analyzer sends can take the listener down."""

    _expected: int
    _attempts: int
    _last: Frame | None
    _partial: list[bytes]
    _partial_size: int
    _delivered: int

    def __init__(
        self, max_frame_bytes: int = MAX_FRAME_BYTES, max_message_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_message_bytes = max_message_bytes
        self._state = State.IDLE
        self._raw = bytearray()
        self._trailer = 0
        self._reset_transfer()

    @property
    def state(self) -> State:
        return self._state

    @property
    def expected(self) -> int:
        """The frame number awaited next."""
        return self._expected

    @property
    def timeout_seconds(self) -> float | None:
        """How long the caller lets the line stay silent now before calling ``timeout()``."""
        return None if self._state is State.IDLE else RECEIVE_TIMEOUT

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for byte in data:
            self._step(byte, events)
        return events

    def timeout(self) -> list[Event]:
        """The caller's timer expired: back to idle, reporting what was unfinished as discarded."""
        if self._state is State.IDLE:
            return []
        events: list[Event] = [
            TransferDiscarded(f"no frame or EOT within {RECEIVE_TIMEOUT:g} s", self._unfinished())
        ]
        self._to_idle()
        return events

    # --- the byte-level machine ---------------------------------------------------------------

    def _step(self, byte: int, events: list[Event]) -> None:
        state = self._state
        if state is State.IDLE:
            if byte == ENQ:
                self._start(events)
        elif state is State.WAITING:
            if byte == STX:
                self._raw = bytearray((STX,))
                self._state = State.IN_FRAME
            elif byte == EOT:
                self._end(events)
            elif byte == ENQ:
                self._restart(events)
            # Anything else between frames is line noise (stray CR LF, a late byte): ignored.
        elif byte in _INTERRUPTS:
            # A frame cut short: the sender stopped it (EOT), began another (STX) or a new transfer
            # (ENQ). The partial frame is refused without reply, then the byte is read afresh.
            self._refuse(
                MalformedFrame(self._expected, "frame cut short by a control character"), events, False
            )
            self._step(byte, events)
        else:
            self._raw.append(byte)
            if state is State.IN_FRAME:
                if byte in (ETX, ETB):
                    self._state = State.TRAILER
                    self._trailer = 0
                elif len(self._raw) > self.max_frame_bytes:
                    error = MalformedFrame(self._expected, f"longer than {self.max_frame_bytes} bytes")
                    self._refuse(error, events, True)
            else:
                self._trailer += 1
                if self._trailer == 4:
                    self._on_frame(bytes(self._raw), events)

    def _on_frame(self, raw: bytes, events: list[Event]) -> None:
        self._raw = bytearray()
        self._state = State.WAITING
        try:
            frame = parse_frame(raw, self._expected)
        except FramingError as error:
            self._refuse(error, events, True)
            return
        if frame.number != self._expected:
            if frame == self._last:
                events += [Reply(bytes((ACK,))), FrameRepeated(frame.number)]
                return
            wrong = FrameSequenceError(frame.number, f"out of sequence, frame {self._expected} expected")
            self._refuse(wrong, events, True)
            return
        if self._partial_size + len(frame.text) > self.max_message_bytes:
            too_long = MalformedFrame(frame.number, f"message longer than {self.max_message_bytes} bytes")
            self._refuse(too_long, events, True)
            return
        self._attempts = 0
        self._last = frame
        self._expected = (self._expected + 1) % FRAME_NUMBERS
        self._partial.append(frame.text)
        self._partial_size += len(frame.text)
        events.append(Reply(bytes((ACK,))))
        if frame.final:
            events.append(MessageReceived(b"".join(self._partial), len(self._partial)))
            self._delivered += 1
            self._partial = []
            self._partial_size = 0

    def _refuse(self, error: FramingError, events: list[Event], reply: bool) -> None:
        self._raw = bytearray()
        self._state = State.WAITING
        self._attempts += 1
        events.append(FrameRejected(error, self._attempts, reply))
        if reply:
            events.append(Reply(bytes((NAK,))))
        if self._attempts >= MAX_ATTEMPTS:
            given_up = TooManyAttempts(self._expected, f"refused {self._attempts} times, transfer abandoned")
            events.append(TransferDiscarded(str(given_up), len(self._partial), given_up))
            self._to_idle()

    # --- transfers ----------------------------------------------------------------------------

    def _start(self, events: list[Event]) -> None:
        self._reset_transfer()
        self._state = State.WAITING
        events += [Reply(bytes((ACK,))), TransferStarted()]

    def _restart(self, events: list[Event]) -> None:
        if self._partial:
            events.append(TransferDiscarded("ENQ in the middle of a message", len(self._partial)))
        self._start(events)

    def _end(self, events: list[Event]) -> None:
        if self._partial:
            events.append(TransferDiscarded("EOT in the middle of a message", len(self._partial)))
        events.append(TransferEnded(self._delivered))
        self._to_idle()

    def _unfinished(self) -> int:
        in_frame = self._state is State.IN_FRAME or self._state is State.TRAILER
        return len(self._partial) + int(in_frame)

    def _to_idle(self) -> None:
        self._state = State.IDLE
        self._raw = bytearray()
        self._reset_transfer()

    def _reset_transfer(self) -> None:
        self._expected = 1
        self._attempts = 0
        self._last = None
        self._partial = []
        self._partial_size = 0
        self._delivered = 0
