"""``labvault mllp``: an HL7 v2 listener (MLLP) for one interface account of a lab."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

import typer

from labvault.cli.opening import command_platform
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, err
from labvault.interop.hl7v2.listener import serve_mllp
from labvault.interop.intake import UnknownSender
from labvault.interop.serving import require_loopback

app = typer.Typer()


@app.command("mllp")
def mllp(
    account: Annotated[str, typer.Option("--account", help="The interface account this port acts as.")],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="0: any free port (printed).")],
    host: Annotated[str, typer.Option("--host", help="Loopback only.")] = "127.0.0.1",
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Receive HL7 v2 messages (ORU^R01 results) over MLLP as the interface account ``--account``;
    each is acknowledged once its results are committed (docs/INTEROP.md)."""
    try:
        require_loopback(host)
    except ValueError as exc:
        err.print(f"labvault mllp: {exc}")
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with command_platform(data_dir, key_dir, database_url) as platform:
        if platform.hl7_inbox.sender_of(account) is None:
            err.print(f"labvault mllp: {UnknownSender(account)}")
            raise typer.Exit(2)

        def ready(bound: int) -> None:
            print(f"labvault mllp: listening on {host}:{bound} for {account}", flush=True)

        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop
            asyncio.run(serve_mllp(platform.hl7_inbox, account, host, port, ready=ready))
