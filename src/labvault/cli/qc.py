"""``labvault qc``: analyzer quality control from the console: control lots declared by a
biologist or lab admin (``--admin``, proving both factors), the rejections awaiting a decision,
and a biologist's decision (docs/INTEROP.md, "Analyzer QC")."""

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
from labvault.cli.user import _acting_admin

app = typer.Typer(help="Analyzer QC: control lots, Westgard rejections and decisions.", no_args_is_help=True)

Instrument = Annotated[str, typer.Option("--instrument", help="The analyzer's interface account.")]
Admin = Annotated[
    str, typer.Option("--admin", help="A biologist or lab admin (asked for password and code).")
]


@app.command("lot-add")
def lot_add(
    instrument: Instrument,
    test: Annotated[str, typer.Option("--test", help="The catalogue's test code.")],
    lot: Annotated[str, typer.Option("--lot", help="The control's lot id, as the analyzer sends it.")],
    mean: Annotated[str, typer.Option("--mean", help="The lot's target mean for this test here.")],
    sd: Annotated[str, typer.Option("--sd", help="The lot's target SD (> 0).")],
    admin: Admin,
    level: Annotated[int | None, typer.Option("--level", min=1, max=9, help="The control level.")] = None,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Declare a control lot run on --instrument for --test, with its target mean and SD."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        found = platform.qc.add_lot(ctx, instrument, test, lot, mean, sd, level)
    out.print(f"{found.instrument}: lot {found.lot} for {found.test_code}, mean {found.mean}, SD {found.sd}")


@app.command("lots")
def lots(
    admin: Admin,
    instrument: Annotated[str | None, typer.Option("--instrument")] = None,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The lab's control lots (of one instrument if named)."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        found = platform.qc.lots(ctx, instrument)
    for lot in found:
        level = f" level {lot.level}" if lot.level else ""
        out.print(f"{lot.instrument}\t{lot.test_code}\t{lot.lot}{level}\tmean {lot.mean}\tSD {lot.sd}")


@app.command("pending")
def pending(
    admin: Admin,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The Westgard rejections awaiting a biologist's decision (each holds technical validation)."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        events = platform.qc.pending(ctx)
    for event in events:
        point, lot = event.point, event.lot
        out.print(
            f"{point.id}\t{lot.instrument}\t{lot.test_code}\t{lot.lot}\t{','.join(point.rules)}\t"
            f"{point.at.isoformat()}"
        )


@app.command("decide")
def decide(
    qc_result_id: Annotated[uuid.UUID, typer.Option("--id", help="The rejected QC result.")],
    decision: Annotated[str, typer.Option("--decision", help="accept (a false rejection) or reject.")],
    comment: Annotated[str, typer.Option("--comment", help="What was checked or done.")],
    admin: Annotated[str, typer.Option("--admin", help="The biologist deciding.")],
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """A biologist's decision on a rejection: releases its hold on technical validation."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        event = platform.qc.decide(ctx, qc_result_id, decision, comment)
    out.print(f"{event.point.id}: {event.point.decision}; the hold on {event.lot.test_code} is released")
