"""``labvault mllp``: an HL7 v2 listener (MLLP) for one interface account of a lab, or, with TLS,
for every interface account of the labs served whose client certificate is pinned."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path
from typing import Annotated

import typer

from labvault.cli.opening import command_platform
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, err
from labvault.errors import NotFound
from labvault.interop.hl7v2.listener import TlsListener, serve_mllp
from labvault.interop.intake import UnknownSender
from labvault.interop.serving import require_loopback
from labvault.interop.tls import server_context

app = typer.Typer()


@app.command("mllp")
def mllp(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="0: any free port (printed).")],
    account: Annotated[
        str | None, typer.Option("--account", help="Without TLS: the interface account this port acts as.")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Loopback only without TLS.")] = "127.0.0.1",
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Its certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its private key (PEM).")] = None,
    client_ca: Annotated[
        Path | None, typer.Option("--client-ca", help="The CA that signs the clients' certificates (PEM).")
    ] = None,
    labs: Annotated[
        list[str] | None, typer.Option("--lab", help="With TLS: a lab served (its code; repeat for several).")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Receive HL7 v2 messages (ORU^R01 results) over MLLP; each is acknowledged once its results
    are committed (docs/INTEROP.md). Without TLS: as the interface account ``--account``, on
    loopback. With ``--tls-cert --tls-key --client-ca --lab``: each connection as the account whose
    pinned client certificate it presents (``labvault interface pin``)."""
    tls_options = (tls_cert, tls_key, client_ca)
    with_tls = any(option is not None for option in tls_options)
    if with_tls and (None in tls_options or not labs or account is not None):
        err.print("labvault mllp: TLS takes --tls-cert, --tls-key, --client-ca and --lab, not --account")
        raise typer.Exit(2)
    if not with_tls:
        if account is None:
            err.print("labvault mllp: --account (or TLS with client certificates) is required")
            raise typer.Exit(2)
        try:
            require_loopback(host)
        except ValueError as exc:
            err.print(f"labvault mllp: {exc}")
            raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with command_platform(data_dir, key_dir, database_url) as platform:
        tls: TlsListener | None = None
        if with_tls:
            assert tls_cert is not None and tls_key is not None and client_ca is not None and labs
            try:
                context = server_context(tls_cert, tls_key, client_ca)
                served = frozenset(platform.labs.by_code(code).id for code in labs)
            except (ssl.SSLError, NotFound) as exc:
                err.print(f"labvault mllp: {exc}")
                raise typer.Exit(2) from None
            tls = TlsListener(context, platform.certificates, served)
        elif account is None or platform.hl7_inbox.sender_of(account) is None:
            err.print(f"labvault mllp: {UnknownSender(account or '')}")
            raise typer.Exit(2)
        who = account if tls is None else "pinned client certificates"

        def ready(bound: int) -> None:
            print(f"labvault mllp: listening on {host}:{bound} for {who}", flush=True)

        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop
            asyncio.run(serve_mllp(platform.hl7_inbox, account, host, port, ready=ready, tls=tls))
