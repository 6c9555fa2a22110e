"""``labvault demo`` and ``labvault demo-code``: a synthetic installation to try labvault on, seeded
once, with its logins printed (and kept beside the data, demo only)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from labvault.cli.opening import settings_or_fail
from labvault.cli.options import (
    DEFAULT_DATA,
    DEFAULT_KEYS,
    DataDir,
    DbUrl,
    Host,
    KeyDir,
    Port,
    err,
    fail,
    out,
)
from labvault.cli.server import run_server
from labvault.demo.seed import (
    ORDERS_PER_LAB,
    DemoCredentials,
    credentials_path,
    demo_code,
    read_credentials,
    seed,
    write_credentials,
)
from labvault.errors import LabvaultError
from labvault.platform import Platform, initialise, open_platform
from labvault.store.base import utcnow

app = typer.Typer()


@app.command()
def demo(
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
    labs: Annotated[int, typer.Option(min=1, max=20, envvar="LABVAULT_DEMO_LABS")] = 3,
    patients: Annotated[int, typer.Option(min=0, max=1_000_000, envvar="LABVAULT_DEMO_PATIENTS")] = 2000,
    seed_value: Annotated[int, typer.Option("--seed", envvar="LABVAULT_DEMO_SEED")] = 2021,
    orders: Annotated[
        int,
        typer.Option(
            min=0, max=2000, envvar="LABVAULT_DEMO_ORDERS", help="Orders per lab, through the workflow."
        ),
    ] = ORDERS_PER_LAB,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only seed.")] = False,
    host: Host = "127.0.0.1",
    port: Port = 8000,
) -> None:
    """Initialise, seed synthetic labs, staff, patients, prescribers, orders, results and reports
    (once), print logins, then serve."""
    settings = settings_or_fail(data_dir, key_dir, database_url)
    try:
        initialise(settings)
        platform = open_platform(settings)
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    creds = read_credentials(data_dir)
    if creds is not None and not _seeded_here(platform, creds):
        out.print(f"Ignoring {credentials_path(data_dir)}: left by an earlier demo whose data is gone.")
        creds = None
    if creds is None:
        out.print(f"Seeding {labs} synthetic laboratories with {patients} patients each...")
        creds = seed(
            platform,
            labs,
            patients,
            seed_value,
            progress=lambda line: out.print(f"  {line}"),
            orders_per_lab=orders,
        )
        path = write_credentials(data_dir, creds)
    else:
        path = credentials_path(data_dir)
        out.print("Demo data already present; reusing it.")
    out.print(f"Demo accounts (synthetic; also in {path}):")
    for user in creds.users:
        out.print(
            f"  {user['lab'] or '-':6} {user['role']:18} {user['username']:18} password {user['password']}"
            f"  token {user['token']}",
            soft_wrap=True,
            highlight=False,
        )
    _print_activity(creds.workflow)
    for analyzer in creds.interfaces[:1]:
        out.print(
            f"An analyzer ({analyzer['username']}, an interface account: it never signs in) sends HL7 v2 "
            f"results with `labvault mllp --account {analyzer['username']} --port 2575 --data-dir "
            f"{data_dir} --key-dir {key_dir}`; see docs/INTEROP.md.",
            soft_wrap=True,
            highlight=False,
        )
    out.print(
        f"In a browser: http://{'localhost' if host == '127.0.0.1' else host}:{port}/ui/ "
        "(username, password above, and the code below; security keys need the name localhost).",
        soft_wrap=True,
        highlight=False,
    )
    out.print(f"Try: curl -H 'Authorization: Bearer <token>' http://{host}:{port}/api/v1/me")
    out.print(
        "Logging in needs a one-time code too: `labvault demo-code <username>` prints the current one "
        f"(demo only: the demo keeps each account's TOTP secret in {path}). Then: curl -X POST "
        f"http://{host}:{port}/api/v1/auth/login -H 'Content-Type: application/json' "
        """-d '{"username": "...", "password": "...", "totp_code": "..."}'""",
        soft_wrap=True,
        highlight=False,
    )
    if no_serve:
        platform.close()
        return
    run_server(platform, host, port)


def _seeded_here(platform: Platform, creds: DemoCredentials) -> bool:
    """The credentials file (kept beside the data directory) belongs to this database's demo."""
    first = creds.labs[0] if creds.labs else None
    try:
        return first is not None and str(platform.labs.by_code(first["code"]).id) == first["id"]
    except LabvaultError:
        return False


@app.command("demo-code")
def demo_code_command(
    username: Annotated[str, typer.Argument(help="A demo account, e.g. demo1.biologist.")],
    data_dir: DataDir = DEFAULT_DATA,
) -> None:
    """Demo only: the current TOTP code of a demo account, from the demo's credentials file (a
    real account's secret lives only in its owner's authenticator app). Each code works once."""
    try:
        code, seconds = demo_code(data_dir, username, utcnow())
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    out.print(code, highlight=False)
    err.print(f"valid about {seconds} s more; each code works once, wait for the next for another login")


def _print_activity(activity: dict[str, int]) -> None:
    """What the demo's synthetic activity left to look at, and who may see what."""
    n = Counter(activity)
    if not n["orders"]:
        return
    out.print(
        f"Synthetic activity: {n['orders']} orders from {n['physicians']} prescribers; "
        f"{n['results']} results ({n['validated']} biologically validated, {n['critical']} critical values, "
        f"{n['critical_calls']} calls recorded); {n['reports']} reports released ({n['partial_reports']} "
        f"partial); {n['pending_items']} tests still pending; {n['rejected_tubes']} tubes rejected.",
        highlight=False,
    )
    out.print(
        f"{n['restricted_orders']} orders hold restricted results (HIV, hepatitis serologies): only the "
        "demoN.biologist accounts see them; other roles see them hidden, or break the glass with a stated "
        "reason (audited and flagged).",
        highlight=False,
    )
