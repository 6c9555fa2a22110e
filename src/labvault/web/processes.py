"""Several server processes on one port (``labvault serve --workers N``): uvicorn's supervisor, with
each worker listening on a socket of its own.

uvicorn binds one socket in the supervisor and hands the same socket to every worker. Two things
went wrong with it here (docs/BENCHMARKS.md §6):

- its protocol number is 0, so asyncio did not set ``TCP_NODELAY`` on the connections, and Nagle's
  algorithm with the client's delayed ACK held every small answer about 40 ms (two workers answered
  23 requests a second to one client, one worker 1,300);
- the first worker to wake takes every connection waiting (asyncio accepts in a loop): a client
  opening its 8 keep-alive connections at once got them all on one worker, the other idle, and two
  workers were no faster than one.

Here the supervisor binds its socket with ``SO_REUSEPORT`` and never listens on it (it only holds
the port); each worker, as it unpickles that socket, binds one of its own to the same address with
``SO_REUSEPORT``, as TCP. The kernel spreads new connections evenly over the workers' sockets.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


def _own_socket(family: int, address: Any) -> socket.socket:
    """A worker's socket: bound to the supervisor's address, the port shared with ``SO_REUSEPORT``."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


class PortHolder(socket.socket):
    """The supervisor's socket: bound, never listening. Pickled into a worker (which is how uvicorn
    hands sockets over), it becomes that worker's own socket on the same address."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_own_socket, (self.family, self.getsockname()))


class TcpConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in str(self.host) else socket.AF_INET
        sock = PortHolder(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.host, self.port))
        return sock


def serve_processes(app: str, workers: int, **options: Any) -> None:
    """Serve the application at import path ``app`` (a factory if ``factory=True``) in ``workers``
    processes, until the supervisor is stopped (SIGTERM, SIGINT)."""
    config = TcpConfig(app, workers=workers, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
