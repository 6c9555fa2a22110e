"""The MLLP listener (python-hl7's asyncio streams): one port bound to one interface account.

On loopback, the port is the credential: a middleware on the same host connects to the port its
lab gave its account, and every message it sends acts as that account (TLS client certificates,
for connections from other hosts, come with a later change). Messages of one connection are taken
in order, one at a time: each is acknowledged only once its effects are committed
(interop/hl7v2/inbox.py), and the next is read after. A frame that is not MLLP, or over the size
limit, closes the connection; so does an internal error (database down): nothing is acknowledged
that was not committed, and the sender sends it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hl7.mllp import InvalidBlockError, start_hl7_server

from labvault.interop.hl7v2.envelope import MAX_MESSAGE_BYTES
from labvault.interop.hl7v2.inbox import Hl7Inbox
from labvault.interop.intake import UnknownSender
from labvault.interop.serving import Connections, require_loopback, serve_until

log = logging.getLogger("labvault.interop.mllp")
START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"


async def serve_mllp(
    inbox: Hl7Inbox,
    username: str,
    host: str,
    port: int,
    *,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` gets the bound port."""
    require_loopback(host)
    connections = Connections()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.enter()
        peer = writer.get_extra_info("peername")
        origin = f"mllp:{peer[0]}" if peer else "mllp"
        try:
            while True:
                try:
                    raw = await reader.readblock()  # type: ignore[attr-defined]
                except asyncio.IncompleteReadError:
                    return  # the sender closed the connection
                except (InvalidBlockError, ValueError) as exc:
                    log.warning("closing an MLLP connection: %s", type(exc).__name__)
                    return
                try:
                    ack = await asyncio.to_thread(inbox.receive, username, raw, origin)
                except UnknownSender:
                    log.error("interface account %s is gone: closing its connection", username)
                    return
                except Exception as exc:  # nothing was committed: no acknowledgement, the sender resends
                    # Its type only: a database error's text may quote the statement's parameters.
                    log.error("an MLLP message could not be handled (%s); closing", type(exc).__name__)
                    return
                writer.write(START_BLOCK + ack + END_BLOCK)
                await writer.drain()
        finally:
            writer.close()
            connections.leave()

    server = await start_hl7_server(connection, host, port, limit=MAX_MESSAGE_BYTES + 16)
    await serve_until(server, connections, f"MLLP listener for {username} on {host}", ready=ready, stop=stop)
