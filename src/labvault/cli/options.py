"""What every ``labvault`` command module shares: the consoles, the options naming the data, keys
and database, and the one way a command fails (a clear message, exit code 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="LABVAULT_DATA_DIR", help="Database and files.")]
KeyDir = Annotated[
    Path, typer.Option("--key-dir", envvar="LABVAULT_KEY_DIR", help="Root key; never inside data.")
]
DbUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="LABVAULT_DATABASE_URL", help="Default: SQLite in data dir."),
]
Host = Annotated[str, typer.Option("--host", envvar="LABVAULT_HOST")]
Port = Annotated[int, typer.Option("--port", envvar="LABVAULT_PORT")]
LabCode = Annotated[str, typer.Option("--lab", envvar="LABVAULT_LAB", help="Laboratory code.")]
TotpCode = Annotated[
    str | None,
    typer.Option(
        "--totp-code",
        help="Current 6-digit code of the authenticator app (default: the stdin line after the "
        "password with --password-stdin, else asked for). Each code works once.",
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from stdin (then the code, one per line)."),
]

DEFAULT_DATA = Path("var/data")
DEFAULT_KEYS = Path("var/keys")
EXIT_ERROR = 2


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned exit (code 2)."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=EXIT_ERROR)
