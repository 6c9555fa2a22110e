"""``labvault breach check``: is a file found outside made of this laboratory's patients, or its
canaries? Matched through blind indexes, so nothing is decrypted and no identity printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labvault.cli.officer import acting_officer
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, LabCode, fail, out
from labvault.governance.breach import BreachReport

app = typer.Typer(help="Breach response: is a leaked file ours?", no_args_is_help=True)

EXIT_FOUND = 1  # 0: none found; 2: an error (options.EXIT_ERROR)


@app.command("check")
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
    with stream, acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        report = platform.breach.check(ctx, lab, stream)
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
