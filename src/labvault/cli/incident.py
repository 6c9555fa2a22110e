"""``labvault incident``: a lab's breach response at the console, as its security officer.

Record the incident (the 72-hour CNIL deadline runs from its discovery), list the affected
patients by id (from a breach check of a leaked file, or from the audit log: every patient one
account accessed between two times), and write the drafts: the notification to the CNIL and the
letters to the patients. Only the letters name anyone: their file holds names and postal
addresses in clear, so it is written owner-only, never over an existing file, to be printed and
deleted.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labvault.cli.display import show_table, utc_time
from labvault.cli.officer import acting_officer
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, LabCode, fail, out
from labvault.governance.incident_data import (
    AffectedAdded,
    IncidentChanges,
    IncidentDetails,
    IncidentInput,
    IncidentView,
)
from labvault.store.base import utcnow

app = typer.Typer(
    help="Breach response: incidents, affected patients, CNIL and patient drafts.", no_args_is_help=True
)

IncidentId = Annotated[uuid.UUID, typer.Argument(help="The incident's id (labvault incident list).")]
Out = Annotated[Path, typer.Option("--out", help="The PDF to write (never over an existing file).")]
Nature = Annotated[
    list[str] | None,
    typer.Option("--nature", help="confidentiality, integrity, availability (repeat for several)."),
]
Summary = Annotated[
    str | None, typer.Option("--summary", help="What happened (also in the patients' letter).")
]
PeopleCategories = Annotated[
    str | None, typer.Option("--people-categories", help="e.g. patients du laboratoire")
]
RecordCategories = Annotated[
    str | None, typer.Option("--record-categories", help="e.g. identité, coordonnées")
]
Consequences = Annotated[str | None, typer.Option("--consequences", help="Likely consequences.")]
Measures = Annotated[str | None, typer.Option("--measures", help="Measures taken or proposed.")]
Dpo = Annotated[str | None, typer.Option("--dpo-contact", help="The data protection officer's contact.")]
People = Annotated[int | None, typer.Option("--people", help="Approximate number of people concerned.")]
Records = Annotated[int | None, typer.Option("--records", help="Approximate number of records concerned.")]


def _time(name: str, value: str) -> dt.datetime:
    """An ISO 8601 time with its zone (2026-03-02T09:30+01:00, or Z)."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{name}: not an ISO 8601 time (e.g. 2026-03-02T09:30+01:00)") from None
    if parsed.tzinfo is None:
        raise fail(f"{name}: give the time zone (e.g. +01:00, or Z for UTC)")
    return parsed


def _details(**texts: str | None) -> dict[str, str]:
    return {name: text for name, text in texts.items() if text is not None}


@app.command("open")
def incident_open(
    lab: LabCode,
    discovered: Annotated[
        str | None, typer.Option("--discovered", help="When it was discovered (default: now).")
    ] = None,
    nature: Nature = None,
    summary: Summary = None,
    people_categories: PeopleCategories = None,
    record_categories: RecordCategories = None,
    consequences: Consequences = None,
    measures: Measures = None,
    dpo_contact: Dpo = None,
    people: People = None,
    records: Records = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Record an incident; the 72-hour deadline to notify the CNIL runs from its discovery."""
    texts = _details(
        summary=summary,
        people_categories=people_categories,
        record_categories=record_categories,
        consequences=consequences,
        measures=measures,
        dpo_contact=dpo_contact,
    )
    data = IncidentInput(
        _time("--discovered", discovered) if discovered else utcnow(),
        tuple(nature or ()),
        IncidentDetails(**texts),
        people,
        records,
    )
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        view = platform.incidents.open(ctx, data)
    _print_incident(view)


@app.command("update")
def incident_update(
    incident: IncidentId,
    lab: LabCode,
    nature: Nature = None,
    summary: Summary = None,
    people_categories: PeopleCategories = None,
    record_categories: RecordCategories = None,
    consequences: Consequences = None,
    measures: Measures = None,
    dpo_contact: Dpo = None,
    people: People = None,
    records: Records = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Change what is known: nature, approximate counts, texts (the options given)."""
    texts = _details(
        summary=summary,
        people_categories=people_categories,
        record_categories=record_categories,
        consequences=consequences,
        measures=measures,
        dpo_contact=dpo_contact,
    )
    changes = IncidentChanges(tuple(nature) if nature else None, people, records, texts)
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        view = platform.incidents.update(ctx, incident, changes)
    _print_incident(view)


@app.command("show")
def incident_show(
    incident: IncidentId,
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The incident, its deadline (time left or overdue) and its affected patients by source."""
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        view = platform.incidents.get(ctx, incident)
    _print_incident(view, texts=True)


@app.command("list")
def incident_list(
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The lab's incidents, newest discovery first, with their deadlines."""
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        views = platform.incidents.list(ctx)
    if not views:
        out.print("No incident recorded.")
        return
    table = Table("id", "discovered (UTC)", "status", "nature", "deadline", "affected")
    for view in views:
        table.add_row(
            str(view.id),
            utc_time(view.discovered_at),
            view.status.value,
            ", ".join(n.value for n in view.nature),
            _deadline_words(view),
            str(view.affected.total),
        )
    show_table(table)


@app.command("affected-from-check")
def incident_affected_from_check(
    incident: IncidentId,
    file: Annotated[Path, typer.Argument(help="The leaked CSV or SQL dump (read, never changed).")],
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Run ``breach check`` on FILE and add the lab's patients it holds (canaries left out)."""
    try:
        stream = file.open("rb")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    with stream, acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        report = platform.breach.check(ctx, lab, stream)
        added = platform.incidents.affected_from_check(ctx, incident, report)
    out.print(f"{report.lines} lines read (sha256 {report.sha256}).", highlight=False, soft_wrap=True)
    if report.canaries:
        out.print(
            f"[bold red]{len(report.canaries)} canary patient(s) in the file: it comes from {lab}.[/bold red]"
        )
    _print_added(added)


@app.command("affected-from-audit")
def incident_affected_from_audit(
    incident: IncidentId,
    lab: LabCode,
    account: Annotated[str, typer.Option("--account", help="The account's username or id.")],
    start: Annotated[str, typer.Option("--from", help="From (ISO 8601 with zone), included.")],
    end: Annotated[str, typer.Option("--to", help="To (ISO 8601 with zone), excluded.")],
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Add every patient the account accessed between the two times, from the lab's audit log."""
    begin, finish = _time("--from", start), _time("--to", end)
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        added = platform.incidents.affected_from_audit(ctx, incident, account, begin, finish)
    _print_added(added)


@app.command("affected")
def incident_affected(
    incident: IncidentId,
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The affected patients, by id, with the sources that found each (never an identity)."""
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        found = platform.incidents.affected(ctx, incident)
    for patient_id, sources in sorted(found.items()):
        out.print(f"  patient {patient_id}  {', '.join(sorted(s.value for s in sources))}", highlight=False)
    out.print(f"{len(found)} patient(s).")


@app.command("notify")
def incident_notify(
    incident: IncidentId,
    lab: LabCode,
    at: Annotated[str | None, typer.Option("--at", help="When the CNIL was notified (default: now).")] = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Record the notification to the CNIL."""
    when = _time("--at", at) if at else None
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        view = platform.incidents.notify(ctx, incident, when)
    _print_incident(view)


@app.command("close")
def incident_close(
    incident: IncidentId,
    lab: LabCode,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Close the incident (notified, or documented as not needing notification)."""
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        view = platform.incidents.close(ctx, incident)
    _print_incident(view)


@app.command("draft-cnil")
def incident_draft_cnil(
    incident: IncidentId,
    lab: LabCode,
    out_file: Out,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The draft notification to the CNIL (GDPR art. 33), in French, as PDF."""
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        pdf = platform.incidents.draft_cnil(ctx, incident)
    _write(out_file, pdf)
    out.print(f"CNIL notification draft written to {out_file}.", highlight=False, soft_wrap=True)


@app.command("draft-letters")
def incident_draft_letters(
    incident: IncidentId,
    lab: LabCode,
    out_file: Out,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The letters to the affected patients (GDPR art. 34), one page each, in French, as PDF.
    Each patient's name and address is an audited read that counts against your read budget."""
    with acting_officer(data_dir, key_dir, database_url, lab) as (platform, ctx):
        pdf = platform.incidents.draft_letters(ctx, incident)
    _write(out_file, pdf)
    out.print(
        f"Letters written to {out_file} (owner-only): names and addresses; print it, then delete it.",
        highlight=False,
        soft_wrap=True,
    )


def _write(path: Path, data: bytes) -> None:
    """Owner-only, and never over an existing file (a draft replaces nothing by accident)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _deadline_words(view: IncidentView) -> str:
    return f"{utc_time(view.deadline.due)} UTC: {view.deadline.words()}"


def _print_incident(view: IncidentView, *, texts: bool = False) -> None:
    style = "bold red" if view.deadline.overdue and view.notified_at is None else "bold"
    out.print(f"incident {view.id}  status: {view.status.value}", highlight=False)
    out.print(
        f"  discovered {utc_time(view.discovered_at)} UTC; nature: {', '.join(n.value for n in view.nature)}"
    )
    out.print(f"  CNIL deadline [{style}]{_deadline_words(view)}[/{style}]", highlight=False)
    if view.notified_at:
        out.print(f"  notified {utc_time(view.notified_at)} UTC")
    if view.closed_at:
        out.print(f"  closed {utc_time(view.closed_at)} UTC")
    approx = [
        f"{n} {what}"
        for n, what in ((view.people_approx, "people"), (view.records_approx, "records"))
        if n is not None
    ]
    if approx:
        out.print(f"  approximately {' and '.join(approx)}")
    sources = ", ".join(f"{count} by {source.value}" for source, count in view.affected.by_source.items())
    out.print(f"  affected patients: {view.affected.total}" + (f" ({sources})" if sources else ""))
    if texts:
        for name, value in view.details.as_dict().items():
            if value:
                out.print(f"  {name.replace('_', ' ')}: {value}", highlight=False, soft_wrap=True)


def _print_added(added: AffectedAdded) -> None:
    out.print(
        f"{added.found} patient(s) found by {added.source.value}, {added.added} new to the incident; "
        f"{added.counts.total} affected in all.",
        highlight=False,
    )
