"""What the ASTM channel's tests share: an interface account, a simulated analyzer (a socket that
speaks E1381 frame by frame), messages, and the lab's message records."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from labvault.interop.models import InterfaceMessage
from tests.factories import Bench

ENQ, ACK, NAK, EOT = b"\x05", b"\x06", b"\x15", b"\x04"


def records(
    barcode: str,
    *results: str,
    message_id: str = "",
    action: str = "",
    patient: str = "P|1||PID-TEST-0001",
) -> list[str]:
    """H, P, O (the tube ``barcode``), the R and C records given, L."""
    order = f"O|1|{barcode}||^^^K\\^^^NA|R||||||{action}"
    return [f"H|\\^&|{message_id}||SYNTH-ANALYZER^1.0", patient, order, *results, "L|1|N"]


def corrupt(frame: bytes) -> bytes:
    """The frame with one checksum digit changed, as a line error would."""
    digit = frame[-4:-3]
    return frame[:-4] + (b"0" if digit != b"0" else b"1") + frame[-3:]


class Analyzer:
    """The analyzer's side of the line: every write waits for the LIS's one-byte reply."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *_: object) -> None:
        self.socket.close()

    def send(self, data: bytes) -> bytes:
        self.socket.sendall(data)
        return self.socket.recv(1)

    def transfer(self, frames: Sequence[bytes]) -> list[bytes]:
        """ENQ, the frames, EOT: the replies to ENQ and to each frame."""
        replies = [self.send(ENQ)]
        replies += [self.send(frame) for frame in frames]
        self.socket.sendall(EOT)
        return replies


def rows(bench: Bench, sender: uuid.UUID) -> list[InterfaceMessage]:
    """The ASTM message records of ``sender``, oldest first."""
    table = InterfaceMessage.__table__
    with bench.platform.db.owner_engine.connect() as connection:
        query = (
            select(table)
            .where(table.c.sender_id == sender, table.c.channel == "astm")
            .order_by(table.c.received_at)
        )
        return connection.execute(query).all()  # type: ignore[return-value]
