"""``labvault audit witness``: hold a labvault server to the audit checkpoints it signed.

Meant to run on another machine than the server (from cron or a systemd timer), with a token of
the platform operator (every chain) or of a lab admin (their lab's chain), the verifier key printed
by ``labvault audit pubkey`` and pinned out of band, and a state file of its own. Exit codes: 0
every chain consistent (state updated), 1 an inconsistency (named, state untouched), 2 a usage,
state-file or network error (nothing could be checked).
"""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from labvault.cli.options import err, fail, out
from labvault.security.signed_checkpoint import CheckpointError, NoteVerifier
from labvault.security.witness import Witness
from labvault.security.witness_fetch import plain_http_warning, witness_client
from labvault.security.witness_result import RoundResult
from labvault.security.witness_state import WitnessStateError

app = typer.Typer()


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except OSError as exc:
        raise fail(f"cannot read the token file {path}: {exc.strerror}") from None
    if not token:
        raise fail(f"the token file {path} is empty")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        err.print(f"[yellow]warning:[/yellow] {escape(str(path))} is readable by others than its owner")
    return token


def _show(result: RoundResult, number: int, rounds: int) -> None:
    prefix = f"round {number}/{rounds}: " if rounds > 1 else ""
    for outcome in result.chains:
        out.print(escape(prefix + str(outcome)), soft_wrap=True)
    for problem in result.problems:
        err.print(f"[red]{escape(prefix + str(problem))}[/red]", soft_wrap=True)
    if result.ok:
        out.print(f"{prefix}all {len(result.chains)} chains consistent; state written")
    else:
        err.print(f"[red]{prefix}witness refused the server's checkpoints; state left unchanged[/red]")


@app.command("witness")
def audit_witness(
    url: Annotated[
        str, typer.Option("--url", envvar="LABVAULT_WITNESS_URL", help="The server, e.g. https://lis:8000.")
    ],
    token_file: Annotated[
        Path,
        typer.Option(
            "--token-file", envvar="LABVAULT_WITNESS_TOKEN_FILE", help="A token with audit.read (0600)."
        ),
    ],
    public_key: Annotated[
        str,
        typer.Option(
            "--public-key",
            envvar="LABVAULT_WITNESS_PUBLIC_KEY",
            help="The key `labvault audit pubkey` printed, pinned out of band.",
        ),
    ],
    state: Annotated[
        Path,
        typer.Option("--state", envvar="LABVAULT_WITNESS_STATE", help="The witness's own state file."),
    ],
    interval: Annotated[
        float, typer.Option("--interval", min=0, help="Seconds between rounds (with --rounds).")
    ] = 60.0,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Rounds to run, then exit.")] = 1,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per HTTP request.")] = 30.0,
) -> None:
    """Check the server's signed audit checkpoints against the last ones this witness accepted:
    signatures with the pinned key, consistency proofs, no rollback, no fork, no chain dropped.
    Exit 0 consistent, 1 inconsistent (state untouched), 2 usage or network error."""
    try:
        NoteVerifier.parse(public_key)
        warning = plain_http_warning(url)
    except (CheckpointError, ValueError) as exc:
        raise fail(str(exc)) from None
    if warning:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
    token = _read_token(token_file)
    with witness_client(url, token, timeout) as client:
        witness = Witness(client, public_key, state)
        for number in range(1, rounds + 1):
            try:
                result = witness.run_once()
            except WitnessStateError as exc:
                raise fail(str(exc)) from None
            except OSError as exc:
                raise fail(f"cannot write the witness state {state}: {exc.strerror}") from None
            _show(result, number, rounds)
            if not result.ok:
                raise typer.Exit(code=result.exit_code)
            if number < rounds:
                time.sleep(interval)
