"""The MLLP listener (python-hl7's asyncio streams): one port bound to one interface account, or,
with TLS, one port for every interface account whose client certificate is pinned.

On loopback without TLS, the port is the credential: a middleware on the same host connects to the
port its lab gave its account, and every message it sends acts as that account. With TLS (which may
listen beyond loopback), the client certificate is the credential: signed by the listener's CA,
and pinned on an active interface account of a lab the listener serves (interop/certificates.py),
else the connection is closed with a HIGH alert. Messages of one connection are taken
in order, one at a time: each is acknowledged only once its effects are committed
(interop/hl7v2/inbox.py), and the next is read after. A frame that is not MLLP, or over the size
limit, closes the connection; so does an internal error (database down): nothing is acknowledged
that was not committed, and the sender sends it again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from hl7.mllp import InvalidBlockError, start_hl7_server

from labvault.identity.accounts import context_for
from labvault.interop.certificates import InterfaceCertificates
from labvault.interop.hl7v2.envelope import MAX_MESSAGE_BYTES
from labvault.interop.hl7v2.inbox import CHANNEL, Hl7Inbox
from labvault.interop.intake import UnknownSender
from labvault.interop.serving import Connections, require_loopback, serve_until
from labvault.interop.tls import peer_fingerprint
from labvault.security.access import Purpose

log = logging.getLogger("labvault.interop.mllp")
START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"


@dataclass(frozen=True)
class TlsListener:
    """A listener with TLS: its context (client certificates required, interop/tls.py), the pinned
    certificates that name the accounts, and the labs whose interface accounts it serves."""

    context: ssl.SSLContext
    certificates: InterfaceCertificates
    labs: frozenset[uuid.UUID]


async def serve_mllp(
    inbox: Hl7Inbox,
    username: str | None,
    host: str,
    port: int,
    *,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    tls: TlsListener | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` gets the bound port. Without ``tls``:
    loopback only, every message as ``username``; with it: each connection as the account whose
    pinned certificate it presented (``username`` None)."""
    if tls is None:
        require_loopback(host)
        if username is None:
            raise ValueError("a listener without TLS acts as one interface account")
    elif username is not None:
        raise ValueError("a TLS listener takes its accounts from the client certificates")
    connections = Connections()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.enter()
        peer = writer.get_extra_info("peername")
        origin = f"mllp:{peer[0]}" if peer else "mllp"
        try:
            fingerprint: str | None = None
            if tls is not None:
                fingerprint = await asyncio.to_thread(_identify, inbox, tls, writer, origin)
                if fingerprint is None:
                    return
            while True:
                try:
                    raw = await reader.readblock()  # type: ignore[attr-defined]
                except asyncio.IncompleteReadError:
                    return  # the sender closed the connection
                except (InvalidBlockError, ValueError) as exc:
                    log.warning("closing an MLLP connection: %s", type(exc).__name__)
                    return
                try:
                    if tls is None:
                        assert username is not None
                        ack: bytes | None = await asyncio.to_thread(inbox.receive, username, raw, origin)
                    else:
                        assert fingerprint is not None
                        ack = await asyncio.to_thread(_receive_pinned, inbox, tls, fingerprint, raw, origin)
                    if ack is None:
                        log.error("the client certificate is pinned no more: closing its connection")
                        return
                except UnknownSender:
                    log.error("interface account %s is gone: closing its connection", username)
                    return
                except Exception as exc:  # nothing was committed: no acknowledgement, the sender resends
                    # Its type only: a database error's text may quote the statement's parameters.
                    log.error("an MLLP message could not be handled (%s); closing", type(exc).__name__)
                    return
                writer.write(START_BLOCK + ack + END_BLOCK)
                await writer.drain()
        except ConnectionError:
            log.warning("an MLLP connection was lost")
        finally:
            writer.close()
            connections.leave()

    ssl_context = tls.context if tls is not None else None
    server = await start_hl7_server(connection, host, port, limit=MAX_MESSAGE_BYTES + 16, ssl=ssl_context)
    what = f"MLLP listener for {username} on {host}" if tls is None else f"MLLP TLS listener on {host}"
    await serve_until(server, connections, what, ready=ready, stop=stop)


def _identify(inbox: Hl7Inbox, tls: TlsListener, writer: asyncio.StreamWriter, origin: str) -> str | None:
    """The fingerprint of the connection's certificate, when it names an active interface account
    of a lab served here; else None, with a HIGH alert (an unknown certificate: to every lab
    served; a disabled account: to its lab)."""
    fingerprint = peer_fingerprint(writer.get_extra_info("ssl_object"))
    if fingerprint is None:  # CERT_REQUIRED: the handshake refused it already
        return None
    account = tls.certificates.account_of(fingerprint, tls.labs)
    if account is None:
        log.error("an unknown client certificate (%s) was refused", fingerprint[:16])
        tls.certificates.alert_unknown(tls.labs, fingerprint, CHANNEL, origin)
        return None
    if not account.active:
        log.error("the certificate of the disabled interface account %s was refused", account.username)
        inbox.intake.alert_refused_sender(context_for(account, Purpose.CARE, origin), CHANNEL, "disabled")
        return None
    return fingerprint


def _receive_pinned(
    inbox: Hl7Inbox, tls: TlsListener, fingerprint: str, raw: bytes, origin: str
) -> bytes | None:
    """The acknowledgement of ``raw`` from the account the certificate names now (the pin read
    again for every message); None when it names none any more."""
    account = tls.certificates.account_of(fingerprint, tls.labs)
    if account is None:
        return None
    return inbox.receive(account.username, raw, origin)
