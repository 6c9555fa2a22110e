"""``labvault keys``: a laboratory's data key rotation, then the re-encryption of its values."""

from __future__ import annotations

from typing import Annotated

import typer

from labvault.cli.opening import command_platform
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, LabCode, out
from labvault.demo.seed import cli_context

app = typer.Typer(help="Per-laboratory key sets.", no_args_is_help=True)


@app.command("rotate")
def keys_rotate(
    lab: LabCode,
    reencrypt: Annotated[bool, typer.Option(help="Re-encrypt existing values under the new key.")] = True,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """New data key version for a lab; then re-encrypt its values in the background batches."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        info = platform.labs.by_code(lab)
        version = platform.labs.rotate_keys(cli_context(), info.id)
        out.print(f"Laboratory {info.code}: data key version {version} is now active.")
        if reencrypt:
            report = platform.reencryptor.run(info.id)
            out.print(f"Re-encrypted {report.values_rewritten} values in {report.rows_examined} rows.")
