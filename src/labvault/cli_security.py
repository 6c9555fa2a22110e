"""Security commands: ``labvault alerts``, ``labvault canary plant|list``, ``labvault breach check``.

The console (which holds the root key) acts here as the lab's security officer, for that lab only:
these commands show ids, counts and line numbers, never an identity.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labvault.cli_options import (
    DEFAULT_DATA,
    DEFAULT_KEYS,
    DataDir,
    DbUrl,
    KeyDir,
    LabCode,
    fail,
    out,
)
from labvault.config import Settings
from labvault.errors import LabvaultError
from labvault.governance.breach import BreachChecker, BreachReport
from labvault.oversight.alert_service import AlertService
from labvault.oversight.canaries import CanaryService
from labvault.platform import Platform, open_platform
from labvault.security.access import AccessContext
from labvault.security.alerts import Severity

app = typer.Typer()
canary_app = typer.Typer(help="Canary patients (honeytokens) of a laboratory.", no_args_is_help=True)
breach_app = typer.Typer(help="Breach response: is a leaked file ours?", no_args_is_help=True)
app.add_typer(canary_app, name="canary")
app.add_typer(breach_app, name="breach")

EXIT_FOUND = 1
WIDE = 240  # columns when the output is not a terminal (piped, captured): whole ids, one line each


@contextmanager
def _officer(
    data_dir: Path, key_dir: Path, database_url: str | None, lab: str
) -> Iterator[tuple[Platform, AccessContext]]:
    """The platform, and the console acting as ``lab``'s security officer; errors exit with 2."""
    try:
        platform = open_platform(Settings(data_dir=data_dir, key_dir=key_dir, database_url=database_url))
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    try:
        info = platform.labs.by_code(lab)
        ctx = AccessContext.console_officer(f"cli:{getpass.getuser()}", info.id)
        yield platform, ctx
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    finally:
        platform.close()


def _show(table: Table) -> None:
    """A table; piped or captured, wide enough for whole ids on one line (a terminal: its width)."""
    (out if out.is_terminal else Console(width=WIDE)).print(table)


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


@app.command("alerts")
def alerts(
    lab: LabCode,
    since: Annotated[
        dt.datetime | None,
        typer.Option("--since", help="Only alerts at or after (UTC unless an offset is given)."),
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only alerts not yet acknowledged.")] = False,
    severity: Annotated[Severity | None, typer.Option("--severity", help="This severity and above.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The lab's security alerts, newest first (read budgets, canaries, off-hours, new origins...)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    with _officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        page = AlertService(platform.db).list(
            ctx, since=since, severity=severity, open_only=open_only, limit=limit
        )
    table = Table(title=f"Alerts of {lab} ({len(page.alerts)} shown)", title_justify="left")
    for column in (
        "at (UTC)",
        "severity",
        "kind",
        "blocked",
        "who",
        "role",
        "origin",
        "detail",
        "acknowledged",
    ):
        table.add_column(column, overflow="fold")  # wrapped, never cut: ids must stay whole
    for alert in page.alerts:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(alert.detail.items()))
        table.add_row(
            _when(alert.at),
            alert.severity,
            alert.kind,
            "yes" if alert.blocked else "",
            escape(alert.actor_label),
            alert.role,
            escape(alert.origin),
            escape(detail),
            _when(alert.acknowledged_at),
        )
    _show(table)
    if page.next_offset is not None:
        out.print(f"More alerts: raise --limit, or use --since {_when(page.alerts[-1].at)}.")


@canary_app.command("plant")
def canary_plant(
    lab: LabCode,
    count: Annotated[int, typer.Option("--count", min=1, max=100, help="How many canary patients.")],
    label: Annotated[str, typer.Option("--label", help="A name for this planting (no personal data).")] = "",
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Register synthetic canary patients: any later access to one, and any leaked file holding
    one, raises a high alert. Plant a few at a time, at different times, like real registrations."""
    label = label or f"planted {dt.datetime.now(dt.UTC):%Y-%m-%d}"
    with _officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        planted = CanaryService(platform.db, platform.patients).plant(ctx, count, label)
    ids = ", ".join(str(c.id) for c in planted)
    out.print(f"{len(planted)} canary patient(s) planted in {lab} ({escape(label)}); canary ids: {ids}")


@canary_app.command("list")
def canary_list(
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The lab's canaries: canary id, patient id, when planted, label."""
    with _officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        canaries = CanaryService(platform.db, platform.patients).list(ctx)
    table = Table(title=f"Canaries of {lab} ({len(canaries)})", title_justify="left")
    for column in ("canary", "patient", "planted (UTC)", "label"):
        table.add_column(column, overflow="fold")
    for c in canaries:
        table.add_row(str(c.id), str(c.patient_id), _when(c.planted_at), escape(c.label))
    _show(table)


@breach_app.command("check")
def breach_check(
    file: Annotated[Path, typer.Argument(help="A CSV or SQL dump found outside (read, never changed).")],
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Does FILE hold patients of this lab, or its canaries? Matched through the lab's blind
    indexes: nothing is decrypted, no identity printed (patient ids and line numbers only).
    Exit code 0: none found; 1: found; 2: error."""
    try:
        stream = file.open("rb")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    with stream, _officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        report = BreachChecker(platform.db, platform.keys).check(ctx, lab, stream)
    _print_breach(report)
    if report.found:
        raise typer.Exit(code=EXIT_FOUND)


def _print_breach(report: BreachReport) -> None:
    out.print(
        f"{report.lines} lines read (sha256 {report.sha256}); {report.nir_candidates} NIR/INS and "
        f"{report.name_birth_candidates} name + birth date candidates.",
        highlight=False,
        soft_wrap=True,
    )
    if not report.found:
        out.print(f"No patient of {report.lab_code} found in this file.")
        return
    strong = sum(1 for m in report.matches.values() if m.strong)
    out.print(
        f"[bold red]{len(report.matches)} patient(s) of {report.lab_code} found[/bold red] "
        f"({strong} by NIR/INS, {len(report.matches) - strong} by name + birth date only: probable)."
    )
    if report.canaries:
        out.print(
            f"[bold red]{len(report.canaries)} CANARY patient(s) in the file: it comes from "
            f"{report.lab_code}'s data.[/bold red]"
        )
    # One line per patient, never wrapped or cut: the ids are what the officer acts on.
    for match in sorted(report.matches.values(), key=lambda m: (not m.canary, not m.strong, m.lines[:1])):
        lines = ", ".join(str(n) for n in match.lines) + (
            " ..." if match.line_count > len(match.lines) else ""
        )
        out.print(
            f"  patient {match.patient_id}{'  CANARY' if match.canary else ''}  matched on "
            f"{', '.join(sorted(match.on))}  on {match.line_count} line(s): {lines}",
            soft_wrap=True,
            highlight=False,
        )
