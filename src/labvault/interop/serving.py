"""What every listener of a channel shares: loopback only (the port is the credential until TLS
client certificates are built), and one way to serve until stopped, cancelling the connections
still open so that a message being handled is never acknowledged after the stop."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable

log = logging.getLogger("labvault.interop")


def require_loopback(host: str) -> None:
    """A port bound to one account is a credential only where no other host can reach it."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(
            f"{host} is not a loopback address: a listener port bound to one account is served on "
            "loopback only (127.0.0.1); TLS client certificates for remote senders are not supported yet"
        )


class Connections:
    """The connection tasks of one listener, cancelled when it stops."""

    def __init__(self) -> None:
        self.open: set[asyncio.Task[object]] = set()

    def enter(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.open.add(task)

    def leave(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.open.discard(task)

    async def cancel(self) -> None:
        for task in list(self.open):
            task.cancel()
        await asyncio.gather(*self.open, return_exceptions=True)


async def serve_until(
    server: asyncio.Server,
    connections: Connections,
    what: str,
    *,
    ready: Callable[[int], None] | None,
    stop: asyncio.Event | None,
) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` gets the bound port."""
    try:
        async with server:
            bound = server.sockets[0].getsockname()[1]
            log.info("%s on port %s", what, bound)
            if ready is not None:
                ready(bound)
            if stop is None:
                await server.serve_forever()
            else:
                await stop.wait()
    finally:
        await connections.cancel()
