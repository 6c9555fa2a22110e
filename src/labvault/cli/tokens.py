"""``labvault token``: script tokens, issued to a user who proves it is them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from labvault.cli.opening import command_platform
from labvault.cli.options import (
    DEFAULT_DATA,
    DEFAULT_KEYS,
    DataDir,
    DbUrl,
    KeyDir,
    PasswordStdin,
    TotpCode,
    err,
    out,
)
from labvault.cli.prompts import read_code, read_password

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command("create")
def token_create(
    username: Annotated[str, typer.Option("--username")],
    label: Annotated[str, typer.Option("--label")] = "cli",
    ttl_hours: Annotated[int, typer.Option("--ttl-hours", min=1, max=24 * 365)] = 24 * 30,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Issue a script token for a user, who proves it with their password and one-time code.
    Printed once; it expires at the end of its lifetime only (no idle timeout)."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        password = read_password(password_stdin, confirm=False)
        account = platform.accounts.authenticate(
            username, password, read_code(password_stdin, totp_code), "cli"
        )
        issued = platform.accounts.issue_token(account, label, dt.timedelta(hours=ttl_hours), "cli")
    out.print(issued.token, soft_wrap=True)
    err.print(f"expires {issued.expires_at.isoformat(timespec='minutes')}")
