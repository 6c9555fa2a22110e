"""The ASTM listener (E1381 over TCP, plain asyncio): one port on loopback bound to one interface
account, as for MLLP (the port is the credential, interop/hl7v2/listener.py).

Per connection, the bytes read are fed to the sans-I/O receiver (framing.py) and its replies
written back in order, with one exception: the ACK of the frame that completes a message (its L
record) is written only after the message's results are committed (inbox.py, in a thread). That
ACK is the only durability signal ASTM has: an analyzer sends an un-ACKed frame again, so nothing
is acknowledged that was not committed. A refused message is still ACKed (sending it again cannot
fix it) and kept as a dead letter; an internal error (database down) closes the connection with
the frame un-ACKed. Silence past the standard's receive timeout discards the unfinished message.

A host query (an H, Q, L message, when the inbox answers them) is answered the E1381 way: once the
analyzer's transfer ends (EOT), labvault takes the line with ENQ and sends its answers
(interop/astm/query_answer.py) in a transfer of its own.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from labvault.interop.astm.framing import (
    ACK,
    ENQ,
    EOT,
    MAX_ATTEMPTS,
    NAK,
    REPLY_TIMEOUT,
    Event,
    MessageReceived,
    Receiver,
    Reply,
    TransferDiscarded,
    TransferEnded,
    TransferStarted,
    frames_for_records,
)
from labvault.interop.astm.inbox import AstmInbox
from labvault.interop.intake import UnknownSender
from labvault.interop.serving import Connections, require_loopback, serve_until

log = logging.getLogger("labvault.interop.astm")
READ_SIZE = 4096
ESTABLISH_ATTEMPTS = 3
LINE_BUSY_PAUSE = 10.0  # seconds before asking a busy analyzer for the line again (E1381)
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
        self.outgoing: list[list[str]] = []  # answers to host queries, sent once the line is ours
        self.pause = LINE_BUSY_PAUSE

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
        ended = False
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
                ended = ended or isinstance(event, TransferEnded)
        if held is not None:
            self.writer.write(held)
        await self.writer.drain()
        if ended and self.outgoing:
            return await self.send_answers()
        return True

    async def send_answers(self) -> bool:
        """The analyzer's transfer is over: labvault takes the line (ENQ) and sends the answers to
        its queries in one transfer, frame by frame, each frame waiting for its ACK (a NAK: sent
        again, at most six times), then EOT. An analyzer that does not take the line (NAK: busy)
        is asked again after a pause, three times; one that starts a transfer of its own (ENQ,
        contention) goes first, the answers wait for its end. False: close the connection."""
        records = [record for message in self.outgoing for record in message]
        for _ in range(ESTABLISH_ATTEMPTS):
            self.writer.write(bytes([ENQ]))
            await self.writer.drain()
            reply = await self.reply()
            if reply == bytes([ACK]):
                break
            if reply == bytes([ENQ]):  # contention: the analyzer has priority
                return await self.handle(self.receiver.feed(reply))
            if reply != bytes([NAK]):
                log.warning("the analyzer did not take the line for the answers to its queries")
                self.outgoing = []
                return True
            await asyncio.sleep(self.pause)
        else:
            log.warning("the analyzer stayed busy: the answers to its queries are dropped")
            self.outgoing = []
            return True
        self.outgoing = []
        for frame in frames_for_records(records, encoding=self.encoding):
            for _attempt in range(MAX_ATTEMPTS):
                self.writer.write(frame)
                await self.writer.drain()
                reply = await self.reply()
                if reply in (bytes([ACK]), bytes([EOT])):  # EOT: the analyzer asks to stop after this
                    break
                if reply != bytes([NAK]):
                    log.warning("no acknowledgement of an answer frame: the answer is abandoned")
                    self.writer.write(bytes([EOT]))
                    await self.writer.drain()
                    return bool(reply)
            else:
                log.warning("an answer frame was refused %d times: the answer is abandoned", MAX_ATTEMPTS)
                break
        self.writer.write(bytes([EOT]))
        await self.writer.drain()
        return True

    async def reply(self) -> bytes:
        """One byte from the analyzer within the standard's reply timeout; b"" on silence or close."""
        try:
            return await asyncio.wait_for(self.reader.read(1), REPLY_TIMEOUT)
        except TimeoutError:
            return b""

    async def deliver(self, text: str) -> bool:
        """Hand one message to the inbox; True once committed or kept as a dead letter (results),
        or once its answers are ready (a host query)."""
        try:
            answers = await asyncio.to_thread(self.inbox.answer, self.username, text, self.origin)
            if answers is not None:
                self.outgoing += answers
                log.info("ASTM host query from %s: %d answers to send", self.username, len(answers))
                return True
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
