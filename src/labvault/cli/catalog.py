"""``labvault catalog``: a laboratory's test catalogue as a JSON document, out and in."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from labvault.catalog.loader import default_catalog, dump_catalog
from labvault.cli.opening import command_platform
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, LabCode, err, fail, out
from labvault.demo.seed import cli_context

app = typer.Typer(help="A laboratory's test catalogue.", no_args_is_help=True)


@app.command("export")
def catalog_export(
    lab: Annotated[
        str | None, typer.Option("--lab", envvar="LABVAULT_LAB", help="Lab code (default: shipped).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Write a lab's active catalogue (or the one shipped with labvault) as JSON."""
    if lab is None:
        document = dump_catalog(default_catalog())
    else:
        with command_platform(data_dir, key_dir, database_url) as platform:
            document = platform.catalogs.export(cli_context(), platform.labs.by_code(lab).id)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"catalogue written to {output}")


@app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="A catalogue JSON document (see `catalog export`).")],
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Validate a whole catalogue and make it the lab's active one (nothing changes on error)."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(document, dict):
        raise fail(f"{file}: a catalogue is a JSON object")
    with command_platform(data_dir, key_dir, database_url) as platform:
        catalog = platform.catalogs.import_document(cli_context(), platform.labs.by_code(lab).id, document)
    size = f"{len(catalog.tests)} tests, {len(catalog.panels)} panels"
    out.print(f"Catalogue {catalog.version} ({size}) is now active.")
