"""Tables the security officer acts on: ids must stay whole, so when the output is piped or
captured the table is drawn wide enough for them on one line, and times are always UTC."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table

from labvault.cli.options import out

WIDE = 240  # columns when the output is not a terminal (piped, captured): whole ids, one line each


def show_table(table: Table) -> None:
    """A table; piped or captured, wide enough for whole ids on one line (a terminal: its width)."""
    (out if out.is_terminal else Console(width=WIDE)).print(table)


def utc_time(value: dt.datetime | None) -> str:
    """To the second, in UTC whatever the machine's zone (empty for none)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""
