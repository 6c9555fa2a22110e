"""``labvault pending``: reception's pending identities, the patients an order-sending interface
named that no one matched: list them, confirm one once checked, or merge it into the patient it
is (docs/INTEROP.md, "HL7 v2 orders")."""

from __future__ import annotations

import uuid
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
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose

app = typer.Typer(
    help="Pending identities (patients placed by an interface), for reception.", no_args_is_help=True
)

User = Annotated[str, typer.Option("--user", help="Who acts: reception (asked for password and code).")]


def _acting(platform: Platform, user: str, password_stdin: bool, totp_code: str | None) -> AccessContext:
    password = read_password(password_stdin, confirm=False, prompt=f"Password of {user}")
    code = read_code(password_stdin, totp_code, f"One-time code of {user}")
    account = platform.accounts.authenticate(user, password, code, "cli")
    return context_for(account, Purpose.IDENTITY_VIGILANCE, "cli")


@app.command("list")
def list_pending(
    user: User,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """One line per pending identity: id, birth name, first names, birth date, sex, orders, and
    the confirmed patients it may duplicate."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        found = platform.pending_identities.list(_acting(platform, user, password_stdin, totp_code))
    for p in found:
        d = p.record.data
        matches = ",".join(str(m) for m in p.possible_matches) or "-"
        out.print(
            f"{p.record.id}\t{d.birth_name}\t{d.first_names}\t{d.birth_date.isoformat()}\t{d.sex}"
            f"\torders={p.orders}\tpossible_matches={matches}"
        )


@app.command("confirm")
def confirm(
    patient_id: Annotated[uuid.UUID, typer.Option("--patient-id")],
    user: User,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The identity was checked (papers, INS teleservice): confirm it."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        platform.pending_identities.confirm(_acting(platform, user, password_stdin, totp_code), patient_id)
    out.print(f"{patient_id} confirmed")


@app.command("merge")
def merge(
    patient_id: Annotated[uuid.UUID, typer.Option("--patient-id", help="The pending identity.")],
    into: Annotated[uuid.UUID, typer.Option("--into", help="The confirmed patient it is.")],
    user: User,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The pending identity is the patient --into: its orders move there, it is deleted."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        moved = platform.pending_identities.merge(
            _acting(platform, user, password_stdin, totp_code), patient_id, into
        )
    out.print(f"{patient_id} merged into {into}: {moved} order(s) moved")
