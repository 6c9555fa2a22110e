"""HTTP clients pinned to one worker of `labvault serve --workers N`, and which worker that is.

Each client keeps one keep-alive connection, and a connection is served by the worker process that
accepted it: the one holding the connection's socket, found in /proc (Linux). A request that would
go out on another connection (the server closed this one) fails the test rather than silently
reaching another worker.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _hex(address: tuple[str, int]) -> str:
    host, port = address
    return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"


def socket_owner(server: tuple[str, int], client: tuple[str, int], candidates: list[int]) -> int:
    """Which of ``candidates`` holds the server side of the TCP connection ``client`` -> ``server``."""
    local, remote = _hex(server), _hex(client)
    inode = next(
        fields[9]
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if fields[1] == local and fields[2] == remote
    )
    for pid in candidates:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds the connection from {client}")


@dataclass
class Pinned:
    """One connection to the server, hence one worker (``worker``: its pid)."""

    client: httpx.Client
    address: tuple[str, int]  # the client's end of the connection
    worker: int

    def call(self, method: str, path: str, token: str | None = None, body: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.client.stream(method, path, json=body, headers=headers) as response:
            response.read()
            address = client_address(response)
        assert address == self.address, "the connection was reopened: maybe to another worker"
        return response


def client_address(response: httpx.Response) -> tuple[str, int]:
    host, port = response.extensions["network_stream"].get_extra_info("client_addr")
    return str(host), int(port)


def pin_every_worker(
    base: str, server_pid: int, workers: int, source: str = "127.0.0.1", seconds: float = 20
) -> list[Pinned]:
    """One pinned client per worker, from the loopback address ``source`` (the origin the server
    sees: 127.0.0.2 is not 127.0.0.1 for the login rate limit). New connections are opened until
    every worker has accepted one (the kernel hands each to whichever worker accepts first)."""
    port = int(base.rsplit(":", 1)[1])
    pinned: dict[int, Pinned] = {}
    deadline = time.monotonic() + seconds
    while len(pinned) < workers:
        assert time.monotonic() < deadline, f"only workers {sorted(pinned)} answered"
        client = httpx.Client(base_url=base, timeout=10, transport=httpx.HTTPTransport(local_address=source))
        with client.stream("GET", "/healthz") as response:
            response.read()
            address = client_address(response)
        worker = socket_owner(("127.0.0.1", port), address, children(server_pid))
        if worker in pinned:
            client.close()
        else:
            pinned[worker] = Pinned(client, address, worker)
    return list(pinned.values())


def close_all(clients: list[Pinned]) -> None:
    for pinned in clients:
        pinned.client.close()
