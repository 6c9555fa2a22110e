"""``labvault astm``: an ASTM E1381/E1394 listener for one interface account of a lab; and
``labvault astm-import``: a captured session replayed into the same inbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Annotated

import typer

from labvault.cli.opening import command_platform
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, err, fail
from labvault.interop.astm.frames import ENQ, EOT, frames_for_records
from labvault.interop.astm.inbox import AstmInbox
from labvault.interop.astm.listener import serve_astm
from labvault.interop.astm.session import read_session
from labvault.interop.intake import UnknownSender
from labvault.interop.serving import require_loopback

app = typer.Typer()
Account = Annotated[str, typer.Option("--account", help="The interface account the messages come from.")]


@app.command("astm")
def astm(
    account: Account,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="0: any free port (printed).")],
    host: Annotated[str, typer.Option("--host", help="Loopback only.")] = "127.0.0.1",
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Receive ASTM results (E1381 frames, E1394 records) over TCP as the interface account
    ``--account``; each message's last frame is ACKed once its results are committed."""
    try:
        require_loopback(host)
    except ValueError as exc:
        err.print(f"labvault astm: {exc}")
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with command_platform(data_dir, key_dir, database_url) as platform:
        inbox = AstmInbox(platform.intake, platform.worklist_query)  # host queries answered
        if inbox.sender_of(account) is None:
            err.print(f"labvault astm: {UnknownSender(account)}")
            raise typer.Exit(2)

        def ready(bound: int) -> None:
            print(f"labvault astm: listening on {host}:{bound} for {account}", flush=True)

        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop
            asyncio.run(serve_astm(inbox, account, host, port, ready=ready))


@app.command("astm-import")
def astm_import(
    account: Account,
    file: Annotated[Path, typer.Argument(help="A captured session (ENQ, frames, EOT), or plain records.")],
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Replay a captured ASTM session into the lab as ``--account``: each message is accepted or
    refused (kept as a dead letter) as the listener would have done; one line per message."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or type(exc).__name__}") from None
    report = read_session(framed(data))
    with command_platform(data_dir, key_dir, database_url) as platform:
        inbox = AstmInbox(platform.intake)
        if inbox.sender_of(account) is None:
            raise fail(str(UnknownSender(account)))
        for problem in report.problems:
            print(f"capture: {problem}")
        for number, message in enumerate(report.messages, start=1):
            outcome = inbox.receive(account, message, f"astm-import:{file.name}")
            print(f"message {number}: {outcome.text}")
    if not report.messages:
        print(f"{file}: no complete message (H to L) found")


def framed(data: bytes) -> bytes:
    """A capture as read off the line; a file of plain records (no ENQ, as the standard's examples
    are written) is framed as an analyzer would send it, so both go through the same receiver."""
    if ENQ in data:
        return data
    lines = [line for line in data.decode("latin-1").splitlines() if line]
    return bytes([ENQ]) + b"".join(frames_for_records(lines)) + bytes([EOT])
