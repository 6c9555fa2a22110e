"""The ASTM listener (E1381 over TCP, plain asyncio): one port on loopback bound to one interface
account, as for MLLP (the port is the credential, interop/hl7v2/listener.py).

Per connection, the bytes read are fed to the sans-I/O receiver (framing.py) and its replies
written back in order, with one exception: the ACK of the frame that completes a message (its L
record) is written only after the message's results are committed (inbox.py, in a thread). That
ACK is the only durability signal ASTM has: an analyzer sends an un-ACKed frame again, so nothing
is acknowledged that was not committed. A refused message is still ACKed (sending it again cannot
fix it) and kept as a dead letter; an internal error (database down) closes the connection with
the frame un-ACKed. Silence past the standard's receive timeout discards the unfinished message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from labvault.interop.astm.framing import (
    Event,
    MessageReceived,
    Receiver,
    Reply,
    TransferDiscarded,
    TransferEnded,
    TransferStarted,
)
from labvault.interop.astm.inbox import AstmInbox
from labvault.interop.intake import UnknownSender
from labvault.interop.serving import Connections, require_loopback, serve_until

log = logging.getLogger("labvault.interop.astm")
READ_SIZE = 4096
_LINES = re.compile(r"\r\n|\r|\n")


class Joiner:
    """The records of one transfer joined into messages, H to L, as session.py does: the receiver
    delivers one record per ETX-ended frame sequence (or several, from analyzers that send a
    whole message at once)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str) -> list[str]:
        """The messages ``text`` completes."""
        done: list[str] = []
        for line in _LINES.split(text):
            if not line:
                continue
            if line.startswith("H") and self.lines:
                self.drop("a new header before the terminator (L)")
            self.lines.append(line)
            if line.startswith("L"):
                done.append("\r".join(self.lines) + "\r")
                self.lines = []
        return done

    def drop(self, why: str) -> None:
        if self.lines:
            log.warning("ASTM message of %d records discarded: %s", len(self.lines), why)
        self.lines = []


class Connection:
    """One analyzer's connection: the receiver, the records joined, the ACK held back."""

    def __init__(
        self,
        inbox: AstmInbox,
        username: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        encoding: str,
        receive_timeout: float | None,
    ) -> None:
        peer = writer.get_extra_info("peername")
        self.origin = f"astm:{peer[0]}" if peer else "astm"
        self.inbox = inbox
        self.username = username
        self.reader = reader
        self.writer = writer
        self.encoding = encoding
        self.receive_timeout = receive_timeout
        self.receiver = Receiver()
        self.joiner = Joiner()

    async def serve(self) -> None:
        """Until the analyzer closes the line, or a message cannot be handled."""
        while True:
            wait = self.receiver.timeout_seconds
            if wait is not None and self.receive_timeout is not None:
                wait = self.receive_timeout
            try:
                data = await asyncio.wait_for(self.reader.read(READ_SIZE), wait)
            except TimeoutError:
                self.receiver.timeout()
                self.joiner.drop("no frame or EOT within the receive timeout")
                continue
            if not data:
                self.joiner.drop("the connection closed")
                return
            if not await self.handle(self.receiver.feed(data)):
                return

    async def handle(self, events: list[Event]) -> bool:
        """Write the replies in order, the one before a completing record only after its message is
        handled. False: close the connection, that ACK unsent."""
        held: bytes | None = None
        for event in events:
            if isinstance(event, Reply):
                if held is not None:
                    self.writer.write(held)
                held = event.data  # the receiver puts a frame's ACK just before its message
            elif isinstance(event, MessageReceived):
                for text in self.joiner.add(event.data.decode(self.encoding)):
                    if not await self.deliver(text):
                        return False
            elif isinstance(event, TransferDiscarded):
                self.joiner.drop(f"transfer discarded: {event.reason}")
            elif isinstance(event, TransferStarted | TransferEnded):
                self.joiner.drop("the transfer ended before the terminator (L)")
        if held is not None:
            self.writer.write(held)
        await self.writer.drain()
        return True

    async def deliver(self, text: str) -> bool:
        """Hand one message to the inbox; True once committed or kept as a dead letter."""
        try:
            outcome = await asyncio.to_thread(self.inbox.receive, self.username, text, self.origin)
        except UnknownSender:
            log.error("interface account %s is gone: closing its connection", self.username)
            return False
        except Exception as exc:  # nothing committed: no ACK, the analyzer sends the frame again
            # The type only: a database error's text may quote the statement's parameters.
            log.error("an ASTM message could not be handled (%s); closing its connection", type(exc).__name__)
            return False
        if outcome.accepted:
            log.info("ASTM message from %s: %s", self.username, outcome.text)
        else:  # the place and reason only: never a value
            log.warning("ASTM message from %s %s", self.username, outcome.text)
        return True


async def serve_astm(
    inbox: AstmInbox,
    username: str,
    host: str,
    port: int,
    *,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    encoding: str = "latin-1",
    receive_timeout: float | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` gets the bound port. ``receive_timeout``
    replaces the standard's 30 s (tests)."""
    require_loopback(host)
    connections = Connections()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.enter()
        try:
            await Connection(
                inbox, username, reader, writer, encoding=encoding, receive_timeout=receive_timeout
            ).serve()
        except ConnectionError:
            log.warning("ASTM connection of %s lost", username)
        finally:
            writer.close()
            connections.leave()

    server = await asyncio.start_server(connection, host, port)
    # On stop, the connections too: a message being handled is not ACKed, the analyzer resends.
    await serve_until(server, connections, f"ASTM listener for {username} on {host}", ready=ready, stop=stop)
