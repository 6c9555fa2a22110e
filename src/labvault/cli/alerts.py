"""``labvault alerts``: a laboratory's security alerts, for its security officer (the console)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labvault.cli.display import show_table, utc_time
from labvault.cli.officer import acting_officer
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, LabCode, out
from labvault.security.alerts import Severity

app = typer.Typer()


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
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        page = platform.alerts.list(ctx, since=since, severity=severity, open_only=open_only, limit=limit)
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
            utc_time(alert.at),
            alert.severity,
            alert.kind,
            "yes" if alert.blocked else "",
            escape(alert.actor_label),
            alert.role,
            escape(alert.origin),
            escape(detail),
            utc_time(alert.acknowledged_at),
        )
    show_table(table)
    if page.next_offset is not None:
        out.print(f"More alerts: raise --limit, or use --since {utc_time(page.alerts[-1].at)}.")
