"""``labvault hprim``: a released report as an HPRIM Santé file for a doctor's software, written
only encrypted to the doctor's age key (docs/INTEROP.md)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
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
    out,
)
from labvault.cli.prompts import read_code, read_password
from labvault.identity.accounts import context_for
from labvault.security.access import Purpose

app = typer.Typer()


@app.command("hprim")
def hprim(
    order_id: Annotated[uuid.UUID, typer.Option("--order-id")],
    recipient: Annotated[str, typer.Option("--recipient", help="The doctor's age public key (age1...).")],
    output: Annotated[Path, typer.Option("--output", help="Where the encrypted file goes (.hprim.age).")],
    user: Annotated[str, typer.Option("--user", help="Who exports (asked for password and code).")],
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The order's latest released report, HPRIM Santé (ISO-8859-1, CRLF), encrypted to
    --recipient; the doctor opens it with ``age -d -i key.txt``. Nothing is written in clear."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        password = read_password(password_stdin, confirm=False, prompt=f"Password of {user}")
        code = read_code(password_stdin, totp_code, f"One-time code of {user}")
        account = platform.accounts.authenticate(user, password, code, "cli")
        sealed = platform.hprim.encrypted(context_for(account, Purpose.CARE, "cli"), order_id, recipient)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(sealed)
    out.print(f"{output}: HPRIM, encrypted to {recipient.strip()[:12]}...")
