"""``labvault results import``: a batch of results from an analyzer's CSV export, entered all or
nothing in the name of the person who proves it is them; a refusal names the line of the file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labvault.cli.opening import command_platform
from labvault.cli.options import (
    DEFAULT_DATA,
    DEFAULT_KEYS,
    DataDir,
    DbUrl,
    KeyDir,
    LabCode,
    TotpCode,
    err,
    fail,
    out,
)
from labvault.cli.prompts import read_code, read_password
from labvault.errors import LabvaultError
from labvault.identity.accounts import context_for
from labvault.security.access import Purpose
from labvault.workflow.csv_import import CsvLineError, CsvResultRow, parse_results_csv
from labvault.workflow.order_data import ResultSummary
from labvault.workflow.result_entry import ResultEntry

app = typer.Typer(help="Results: batch import from an analyzer export.", no_args_is_help=True)

_POSITION = re.compile(r"^(pairs|entries)\[(\d+)\](?:\.(\w+))?:\s*(.*)$", re.DOTALL)


def _bad_line(message: str) -> typer.Exit:
    err.print(f"[red]refused, nothing written:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=1)


def _line_message(exc: LabvaultError, rows: list[CsvResultRow]) -> str | None:
    """``entries[3].value: is not a number`` from the services becomes ``line 5, value: ...``:
    batch positions are rows of the file. None for an error that is not about one row."""
    found = _POSITION.match(str(exc))
    if found is None or int(found.group(2)) >= len(rows):
        return None
    row = rows[int(found.group(2))]
    field, reason = found.group(3), found.group(4)
    if field == "item_id" or field is None:
        field = "barcode" if "specimen" in reason or "tube" in reason else "test_code"
    elif field == "correction_reason":
        field, reason = "value", "the result is already biologically validated: correct it with a reason"
    return f"line {row.line}, {field}: {reason}"


def _flag_table(summaries: list[ResultSummary], rows: list[CsvResultRow]) -> Table:
    """How many imported results got each flag, and on which lines of the file."""
    table = Table(box=None, pad_edge=False)
    table.add_column("flag")
    table.add_column("results", justify="right")
    table.add_column("lines")
    labels = (
        ("HH", "critical high (HH)"),
        ("LL", "critical low (LL)"),
        ("H", "high (H)"),
        ("L", "low (L)"),
        ("A", "abnormal (A)"),
        ("N", "normal"),
    )
    imported = summaries[: len(rows)]
    for flag, label in labels:
        lines = [str(row.line) for row, s in zip(rows, imported, strict=True) if s.flag == flag]
        if lines or flag in ("H", "L", "N"):
            shown = ", ".join(lines[:12]) + (" ..." if len(lines) > 12 else "") if flag != "N" else ""
            table.add_row(label, str(len(lines)), shown)
    return table


@app.command("import")
def results_import(
    file: Annotated[
        Path, typer.Argument(help="CSV with a header: barcode,test_code,value[,comment]; ',' or ';'; UTF-8.")
    ],
    lab: LabCode,
    user: Annotated[
        str, typer.Option("--user", help="The technician or biologist entering the results (their username).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every line against the lab's data, write nothing.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the user's password from stdin, then their one-time code on the next line "
            "(unless --totp-code is given).",
        ),
    ] = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Enter a batch of results from an analyzer export, all or nothing: a bad line is named by its
    line number and column (exit code 1) and nothing is written. Calculated tests (eGFR, LDL) follow.
    The user proves it is them with their password and one-time code."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    try:
        rows = parse_results_csv(data)
    except CsvLineError as exc:
        raise _bad_line(str(exc)) from None
    with command_platform(data_dir, key_dir, database_url) as platform:
        info = platform.labs.by_code(lab)
        # The results are entered in this person's name: they prove it, as for `token create`.
        password = read_password(password_stdin, confirm=False)
        account = platform.accounts.authenticate(user, password, read_code(password_stdin, totp_code), "cli")
        if account.lab_id != info.id:
            raise fail(f"user {account.username} is not an account of laboratory {info.code}")
        if not account.active:
            raise fail(f"account {account.username} is disabled")
        ctx = context_for(account, Purpose.CARE, "cli")
        try:
            items = platform.items.resolve_items(ctx, [(row.barcode, row.test_code) for row in rows])
            entries = [
                ResultEntry(item, row.value, row.comment) for item, row in zip(items, rows, strict=True)
            ]
            enter = platform.items.rehearse_entry if dry_run else platform.results.enter
            summaries = enter(ctx, entries)
        except LabvaultError as exc:
            message = _line_message(exc, rows)
            if message is None:
                raise
            raise _bad_line(message) from None
    calculated = len(summaries) - len(rows)
    if dry_run:
        title = f"Dry run: {len(rows)} results would be entered, nothing written"
    else:
        title = f"{len(rows)} results entered by {account.username} in {info.code}"
    if calculated > 0:
        title += f" (+{calculated} calculated)"
    out.print(title, highlight=False)
    out.print(_flag_table(summaries, rows))
    critical = sum(1 for s in summaries if s.flag in ("HH", "LL"))
    if critical:
        out.print(
            f"[bold red]{critical} critical value(s):[/bold red] call the prescriber and record the call "
            "before biological validation."
        )
