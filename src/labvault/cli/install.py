"""``labvault init``: the one command that creates what every other one opens."""

from __future__ import annotations

import typer

from labvault.cli.opening import settings_or_fail
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, fail, out
from labvault.errors import LabvaultError
from labvault.platform import initialise

app = typer.Typer()


@app.command()
def init(
    data_dir: DataDir = DEFAULT_DATA, key_dir: KeyDir = DEFAULT_KEYS, database_url: DbUrl = None
) -> None:
    """Create the data and key directories, the root key and the database schema."""
    try:
        created = initialise(settings_or_fail(data_dir, key_dir, database_url))
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    out.print(("Created" if created else "Kept existing") + f" root key in {key_dir}; schema up to date.")
