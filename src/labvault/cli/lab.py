"""``labvault lab``: create a laboratory, or crypto-shred one. The console acts as the operator."""

from __future__ import annotations

from typing import Annotated

import typer

from labvault.cli.opening import command_platform
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, LabCode, fail, out
from labvault.demo.seed import cli_context

app = typer.Typer(help="Laboratories.", no_args_is_help=True)


@app.command("add")
def lab_add(
    code: Annotated[str, typer.Option("--code")],
    name: Annotated[str, typer.Option("--name")],
    finess: Annotated[str, typer.Option("--finess")],
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Create a laboratory with its own key set and audit chain."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        lab = platform.labs.create(cli_context(), code, name, finess)
    out.print(f"Laboratory {lab.code} created ({lab.id}).")


@app.command("shred")
def lab_shred(
    lab: LabCode,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: this destroys the lab's data for good.")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Crypto-shred a laboratory: destroy its keys, making all its ciphertexts unreadable."""
    if not yes:
        raise fail("crypto-shredding is irreversible; add --yes to confirm")
    with command_platform(data_dir, key_dir, database_url) as platform:
        info = platform.labs.by_code(lab)
        platform.labs.shred(cli_context(), info.id)
    out.print(f"Laboratory {info.code}: key set destroyed.")
