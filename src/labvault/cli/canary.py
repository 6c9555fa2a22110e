"""``labvault canary``: synthetic patients planted in a laboratory, whose access or leak raises an
alert (honeytokens)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labvault.cli.display import show_table, utc_time
from labvault.cli.officer import acting_officer
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, LabCode, out

app = typer.Typer(help="Canary patients (honeytokens) of a laboratory.", no_args_is_help=True)


@app.command("plant")
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
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        planted = platform.canaries.plant(ctx, count, label)
    ids = ", ".join(str(c.id) for c in planted)
    out.print(f"{len(planted)} canary patient(s) planted in {lab} ({escape(label)}); canary ids: {ids}")


@app.command("list")
def canary_list(
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The lab's canaries: canary id, patient id, when planted, label."""
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        canaries = platform.canaries.list(ctx)
    table = Table(title=f"Canaries of {lab} ({len(canaries)})", title_justify="left")
    for column in ("canary", "patient", "planted (UTC)", "label"):
        table.add_column(column, overflow="fold")
    for c in canaries:
        table.add_row(str(c.id), str(c.patient_id), utc_time(c.planted_at), escape(c.label))
    show_table(table)
