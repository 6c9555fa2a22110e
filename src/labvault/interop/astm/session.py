"""A captured session (the bytes an analyzer sent: ENQ, frames, EOT, line noise between them) read
into its messages, through the same receiving state machine as a live line, so that a capture taken
at a site replays exactly what the listener would have accepted and refused."""

from __future__ import annotations

import re
from dataclasses import dataclass

from labvault.interop.astm.errors import RecordError
from labvault.interop.astm.framing import (
    FrameRejected,
    MessageReceived,
    Receiver,
    State,
    TransferDiscarded,
    TransferEnded,
    TransferStarted,
)
from labvault.interop.astm.model import AstmMessage
from labvault.interop.astm.records import parse_message

_LINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SessionReport:
    """The messages read, in order, and what went wrong, in words that never quote the data."""

    messages: tuple[AstmMessage, ...]
    problems: tuple[str, ...]
    frames_rejected: int


class _Messages:
    """Records joined into E1394 messages: an H opens one, an L closes and parses it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.done: list[AstmMessage] = []
        self.problems: list[str] = []
        self.started = 0

    def add(self, text: str) -> None:
        for line in _LINES.split(text):
            if not line:
                continue
            if line.startswith("H") and self.lines:
                self.drop()
            if not self.lines:
                self.started += 1
            self.lines.append(line)
            if line.startswith("L"):
                self.close()

    def close(self) -> None:
        try:
            self.done.append(parse_message("\r".join(self.lines)))
        except RecordError as error:
            self.problems.append(f"message {self.started}: {error}")
        self.lines = []

    def drop(self) -> None:
        if self.lines:
            reason = "no terminator (L)"
            self.problems.append(f"message {self.started}: {reason}, {len(self.lines)} records dropped")
        self.lines = []


def read_session(data: bytes, encoding: str = "latin-1") -> SessionReport:
    """Every message of the capture. A frame the receiver refused is counted and reported (a
    conforming analyzer sent it again, and the capture holds that too); a message left unfinished
    by EOT, a new ENQ or the end of the capture is reported, never half-delivered."""
    receiver = Receiver()
    out = _Messages()
    rejected = 0
    for event in receiver.feed(data):
        if isinstance(event, MessageReceived):
            try:
                out.add(event.data.decode(encoding))
            except UnicodeDecodeError:
                out.problems.append(f"a record is not valid {encoding}")
        elif isinstance(event, FrameRejected):
            rejected += 1
            out.problems.append(str(event.error))
        elif isinstance(event, TransferDiscarded):
            out.problems.append(f"transfer discarded: {event.reason}")
        elif isinstance(event, TransferEnded | TransferStarted):
            out.drop()
    if receiver.state is not State.IDLE:
        out.problems.append("capture ends before EOT")
    out.drop()
    return SessionReport(tuple(out.done), tuple(out.problems), rejected)
