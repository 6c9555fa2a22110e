"""The ``labvault`` command line. Every option can also come from a ``LABVAULT_*`` variable."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from labvault.catalog.loader import default_catalog, dump_catalog
from labvault.cli import alerts, breach, canary
from labvault.cli.options import (
    DEFAULT_DATA,
    DEFAULT_KEYS,
    DataDir,
    DbUrl,
    Host,
    KeyDir,
    LabCode,
    Port,
    err,
    fail,
    out,
)
from labvault.cli.witness import app as witness_app
from labvault.config import Settings
from labvault.demo.seed import (
    ORDERS_PER_LAB,
    DemoCredentials,
    cli_context,
    credentials_path,
    demo_code,
    read_credentials,
    seed,
    write_credentials,
)
from labvault.errors import LabvaultError
from labvault.identity.account_service import context_for
from labvault.platform import Platform, initialise, open_platform
from labvault.security import merkle
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.signed_checkpoint import CheckpointError, NoteVerifier
from labvault.store.base import utcnow
from labvault.workflow.csv_import import CsvLineError, CsvResultRow, parse_results_csv
from labvault.workflow.order_data import ResultSummary
from labvault.workflow.results import ResultEntry

app = typer.Typer(
    help="labvault: a laboratory information system that could not have leaked.", no_args_is_help=True
)
user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Per-laboratory key sets.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
lab_app = typer.Typer(help="Laboratories.", no_args_is_help=True)
catalog_app = typer.Typer(help="A laboratory's test catalogue.", no_args_is_help=True)
results_app = typer.Typer(help="Results: batch import from an analyzer export.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
audit_app.add_typer(witness_app)  # audit witness (cli/witness.py)
app.add_typer(lab_app, name="lab")
app.add_typer(catalog_app, name="catalog")
app.add_typer(results_app, name="results")
app.add_typer(alerts.app)  # alerts
app.add_typer(canary.app, name="canary")
app.add_typer(breach.app, name="breach")


def _settings(data_dir: Path, key_dir: Path, database_url: str | None, **extra: object) -> Settings:
    try:
        return Settings(data_dir=data_dir, key_dir=key_dir, database_url=database_url, **extra)  # type: ignore[arg-type]
    except ValidationError as exc:  # a bad LABVAULT_* variable: say which and why, no traceback
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise fail(f"invalid setting: {problems}") from None


def _open(data_dir: Path, key_dir: Path, database_url: str | None) -> Platform:
    try:
        return open_platform(_settings(data_dir, key_dir, database_url))
    except LabvaultError as exc:
        raise fail(str(exc)) from None


@contextmanager
def _platform(data_dir: Path, key_dir: Path, database_url: str | None) -> Iterator[Platform]:
    """An open platform for one command: errors become a clear message and exit code 2."""
    platform = _open(data_dir, key_dir, database_url)
    try:
        yield platform
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    finally:
        platform.close()


@app.command()
def init(
    data_dir: DataDir = DEFAULT_DATA, key_dir: KeyDir = DEFAULT_KEYS, database_url: DbUrl = None
) -> None:
    """Create the data and key directories, the root key and the database schema."""
    try:
        created = initialise(_settings(data_dir, key_dir, database_url))
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    out.print(("Created" if created else "Kept existing") + f" root key in {key_dir}; schema up to date.")


def _serve(platform: Platform, host: str, port: int) -> None:
    """Run the server. The app's lifespan signs the audit heads on schedule and at every graceful
    stop (SIGTERM included: uvicorn re-raises it after the shutdown, so nothing after
    ``uvicorn.run`` can be relied on for that)."""
    import uvicorn

    from labvault.web.app import create_app

    proxies = platform.settings.trusted_proxies
    try:
        uvicorn.run(
            create_app(platform),
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            # No `server: uvicorn` header: the version a scanner would match is nobody's business.
            server_header=False,
            # A lifespan that fails to start is fatal: never serve without the audit checkpoints.
            lifespan="on",
            # X-Forwarded-For decides the audit origin and the login rate limit's key: believed
            # only from the configured proxies (uvicorn would trust loopback by default).
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
    finally:
        platform.close()


@app.command()
def serve(
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
) -> None:
    """Serve the API (default http://127.0.0.1:8000; OpenAPI at /api/v1/openapi.json)."""
    _serve(_open(data_dir, key_dir, database_url), host, port)


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
    settings = _settings(data_dir, key_dir, database_url)
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
    _serve(platform, host, port)


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


@lab_app.command("add")
def lab_add(
    code: Annotated[str, typer.Option("--code")],
    name: Annotated[str, typer.Option("--name")],
    finess: Annotated[str, typer.Option("--finess")],
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Create a laboratory with its own key set and audit chain."""
    with _platform(data_dir, key_dir, database_url) as platform:
        lab = platform.labs.create(cli_context(), code, name, finess)
    out.print(f"Laboratory {lab.code} created ({lab.id}).")


@lab_app.command("shred")
def lab_shred(
    lab: LabCode,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: this destroys the lab's data for good.")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Crypto-shred a laboratory: destroy its keys, making all its ciphertexts unreadable."""
    if not yes:
        raise fail("crypto-shredding is irreversible; add --yes to confirm")
    with _platform(data_dir, key_dir, database_url) as platform:
        info = platform.labs.by_code(lab)
        platform.labs.shred(cli_context(), info.id)
    out.print(f"Laboratory {info.code}: key set destroyed.")


def _read_password(password_stdin: bool, confirm: bool, prompt: str = "Password") -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return password


def _read_code(password_stdin: bool, totp_code: str | None, prompt: str = "One-time code") -> str:
    """The authenticator app's current code: ``--totp-code``, else the next stdin line (after the
    password) with ``--password-stdin``, else asked for."""
    if totp_code is not None:
        return totp_code
    if password_stdin:
        return sys.stdin.readline().strip()
    code: str = typer.prompt(prompt)
    return code


TotpCode = Annotated[
    str | None,
    typer.Option(
        "--totp-code",
        help="Current 6-digit code of the authenticator app (default: the stdin line after the "
        "password with --password-stdin, else asked for). Each code works once.",
    ),
]


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Option("--username")],
    role: Annotated[Role, typer.Option("--role")],
    lab: Annotated[
        str | None, typer.Option("--lab", envvar="LABVAULT_LAB", help="Lab code (not for operators).")
    ] = None,
    full_name: Annotated[str | None, typer.Option("--full-name")] = None,
    physician_id: Annotated[
        uuid.UUID | None,
        typer.Option(
            "--physician-id",
            help="Role prescriber (and only then): the lab's physician the account acts for.",
        ),
    ] = None,
    admin: Annotated[
        str | None,
        typer.Option("--admin", help="The lab admin creating a staff account (asked for their password)."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the new password from stdin (then, with --admin, the admin's password and code).",
        ),
    ] = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Create an individual staff account (never a shared one). The console acts as the platform
    operator, who may only create operators and a lab's first admin; staff accounts are created
    by a lab admin (``--admin``), who proves it with their password and one-time code; so is a
    prescriber account, for one physician of the lab (``--physician-id``). The new user then
    enrols in MFA (``labvault user mfa-enroll``) before they can sign in."""
    with _platform(data_dir, key_dir, database_url) as platform:
        lab_id = platform.labs.by_code(lab).id if lab else None
        password = _read_password(password_stdin, confirm=True)
        creator = _acting_admin(platform, admin, password_stdin, totp_code)
        account = platform.accounts.create_user(
            creator, username, password, role, lab_id, full_name, physician_id
        )
    out.print(f"User {account.username} ({account.role.value}) created; next: labvault user mfa-enroll.")


def _acting_admin(
    platform: Platform, admin: str | None, password_stdin: bool, totp_code: str | None
) -> AccessContext:
    """The console (platform operator), or the lab admin named by ``--admin`` proving both factors."""
    if admin is None:
        return cli_context()
    admin_password = _read_password(password_stdin, confirm=False, prompt=f"Password of {admin}")
    code = _read_code(password_stdin, totp_code, f"One-time code of {admin}")
    account = platform.accounts.authenticate(admin, admin_password, code, "cli")
    return context_for(account, Purpose.ADMINISTRATION, "cli")


AdminOption = Annotated[
    str | None,
    typer.Option(
        "--admin", help="The lab admin acting (asked for their password and code); default: the console."
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from stdin (then the code, one per line)."),
]


@user_app.command("set-password")
def user_set_password(
    username: Annotated[str, typer.Option("--username")],
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The account's owner replaces the password their administrator gave them (its only use:
    it neither signs in nor enrols a factor). With ``--password-stdin``: the given password, then
    the new one, one per line. ``--totp-code`` only for an account that already has MFA."""
    with _platform(data_dir, key_dir, database_url) as platform:
        given = _read_password(password_stdin, confirm=False, prompt="Password you were given")
        new = _read_password(password_stdin, confirm=True, prompt="Your own new password")
        platform.accounts.set_own_password(username, given, new, totp_code, "cli")
    out.print(f"Password of {username} set; next: labvault user mfa-enroll (a new account) or sign in.")


@user_app.command("mfa-enroll")
def user_mfa_enroll(
    username: Annotated[str, typer.Option("--username")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Start MFA enrolment (mandatory before signing in): prints the TOTP secret and its
    otpauth:// URI once, for an authenticator app; then confirm with a first code (asked for here,
    or ``labvault user mfa-confirm``)."""
    with _platform(data_dir, key_dir, database_url) as platform:
        enrollment = platform.accounts.mfa.begin_enrollment(
            username, _read_password(password_stdin, confirm=False), "cli"
        )
        out.print(f"TOTP secret: {enrollment.secret}", highlight=False)
        out.print(enrollment.uri, soft_wrap=True, highlight=False)
        if password_stdin:
            err.print("Add it to an authenticator app, then run: labvault user mfa-confirm")
            return
        code = str(
            typer.prompt("Code shown by the app (empty: confirm later)", default="", show_default=False)
        )
        if not code.strip():
            err.print("Not confirmed yet: run labvault user mfa-confirm")
            return
        platform.accounts.mfa.confirm_enrollment(
            username, str(typer.prompt("Password again", hide_input=True)), code, "cli"
        )
    out.print("MFA active.")


@user_app.command("mfa-confirm")
def user_mfa_confirm(
    username: Annotated[str, typer.Option("--username")],
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Activate MFA with a first code from the authenticator app (after ``mfa-enroll``)."""
    with _platform(data_dir, key_dir, database_url) as platform:
        password = _read_password(password_stdin, confirm=False)
        platform.accounts.mfa.confirm_enrollment(
            username, password, _read_code(password_stdin, totp_code), "cli"
        )
    out.print("MFA active.")


@user_app.command("mfa-reset")
def user_mfa_reset(
    username: Annotated[str, typer.Option("--username")],
    admin: AdminOption = None,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Forget a user's TOTP secret (lost phone) and revoke their tokens; they enrol again. A lab
    admin (``--admin``) resets their staff; the console, operators and lab admins."""
    with _platform(data_dir, key_dir, database_url) as platform:
        actor = _acting_admin(platform, admin, password_stdin, totp_code)
        pending = platform.accounts.reset_mfa(actor, platform.accounts.by_username(username).id)
    if pending is not None:
        out.print(
            f"Requested (action {pending.id}): the laboratory's admins are alerted and may cancel it; "
            f"run this again after {pending.effective_at:%Y-%m-%d %H:%M} UTC to apply it."
        )
        return
    out.print(f"MFA of {username} reset: they enrol again with labvault user mfa-enroll.")


@user_app.command("update")
def user_update(
    username: Annotated[str, typer.Option("--username")],
    role: Annotated[Role | None, typer.Option("--role", help="New laboratory role.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--disabled", help="Enable or disable the account.")
    ] = None,
    admin: AdminOption = None,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Change a user's role or disable them; every token of the user is revoked. Lab admins
    (``--admin``) manage their staff; the console may only disable lab accounts."""
    with _platform(data_dir, key_dir, database_url) as platform:
        actor = _acting_admin(platform, admin, password_stdin, totp_code)
        account = platform.accounts.update_user(
            actor, platform.accounts.by_username(username).id, role=role, active=active
        )
    state = "active" if account.active else "disabled"
    out.print(f"User {account.username}: {account.role.value}, {state}; their tokens are revoked.")


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Option("--username")],
    label: Annotated[str, typer.Option("--label")] = "cli",
    ttl_hours: Annotated[int, typer.Option("--ttl-hours", min=1, max=24 * 365)] = 24 * 30,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Issue a script token for a user, who proves it with their password and one-time code.
    Printed once; it expires at the end of its lifetime only (no idle timeout)."""
    with _platform(data_dir, key_dir, database_url) as platform:
        password = _read_password(password_stdin, confirm=False)
        account = platform.accounts.authenticate(
            username, password, _read_code(password_stdin, totp_code), "cli"
        )
        issued = platform.accounts.issue_token(account, label, dt.timedelta(hours=ttl_hours), "cli")
    out.print(issued.token, soft_wrap=True)
    err.print(f"expires {issued.expires_at.isoformat(timespec='minutes')}")


@keys_app.command("rotate")
def keys_rotate(
    lab: LabCode,
    reencrypt: Annotated[bool, typer.Option(help="Re-encrypt existing values under the new key.")] = True,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """New data key version for a lab; then re-encrypt its values in the background batches."""
    with _platform(data_dir, key_dir, database_url) as platform:
        info = platform.labs.by_code(lab)
        version = platform.labs.rotate_keys(cli_context(), info.id)
        out.print(f"Laboratory {info.code}: data key version {version} is now active.")
        if reencrypt:
            report = platform.reencryptor.run(info.id)
            out.print(f"Re-encrypted {report.values_rewritten} values in {report.rows_examined} rows.")


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="Check signatures with this pinned key (default: the platform's)."),
    ] = None,
    allow_no_checkpoint: Annotated[
        bool,
        typer.Option(
            "--allow-no-checkpoint",
            help="Succeed without a signed checkpoint (a fresh install): truncation goes undetected.",
        ),
    ] = False,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Check every chain link by link, its Merkle tree against its head, and against the last
    signed checkpoint kept outside the database (truncation, rewrite). Without any signed
    checkpoint a truncated or rewritten log cannot be told apart: exit 1 unless allowed."""
    with _platform(data_dir, key_dir, database_url) as platform:
        try:
            pinned = NoteVerifier.parse(public_key) if public_key else None
            result = platform.audit.verify(pinned)
        except CheckpointError as exc:
            err.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
            raise typer.Exit(code=1) from None
    for report in result.reports:
        signed = result.signed.get(report.chain)
        at = f", signed at {signed.size}" if signed else ", never signed"
        out.print(f"chain {report.chain}: {report.length} entries{at} " + ("ok" if report.ok else "BROKEN"))
    for problem in result.problems:
        err.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)
    if not result.checkpoint_found:
        why = "no signed checkpoint yet: a truncated or rewritten log cannot be detected"
        if not allow_no_checkpoint:
            err.print(f"[red]{why}; run `labvault audit checkpoint` (or pass --allow-no-checkpoint)[/red]")
            raise typer.Exit(code=1)
        err.print(f"warning: {why}")
    if not result.ok:
        raise typer.Exit(code=1)
    out.print("audit log verified")


@audit_app.command("checkpoint")
def audit_checkpoint(
    data_dir: DataDir = DEFAULT_DATA, key_dir: KeyDir = DEFAULT_KEYS, database_url: DbUrl = None
) -> None:
    """Verify the log, then sign each chain's Merkle tree (Ed25519) into the checkpoint file
    outside the database; refused if a tree does not extend the previous signed one."""
    with _platform(data_dir, key_dir, database_url) as platform:
        path = platform.audit.checkpoint()
    out.print(f"signed checkpoints written to {path}")


@audit_app.command("pubkey")
def audit_pubkey(
    data_dir: DataDir = DEFAULT_DATA, key_dir: KeyDir = DEFAULT_KEYS, database_url: DbUrl = None
) -> None:
    """Print the checkpoint verifier key (signed-note form) for witnesses and auditors to pin."""
    with _platform(data_dir, key_dir, database_url) as platform:
        sys.stdout.write(platform.audit.public_key() + "\n")


@audit_app.command("proof")
def audit_proof(
    chain: Annotated[str, typer.Argument(help="A lab id, or 'platform'.")],
    seq: Annotated[
        int | None, typer.Option(min=1, max=2**53, help="Prove this entry (chain_seq) is in the log.")
    ] = None,
    first: Annotated[
        int | None, typer.Option(min=1, max=2**53, help="Prove the log of this size is a prefix...")
    ] = None,
    size: Annotated[
        int | None, typer.Option(min=1, max=2**53, help="...of the log of this size (default: last signed).")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Print an inclusion (--seq) or consistency (--first) proof as JSON; an inclusion proof in
    the last signed tree is also checked against its signed root."""
    if (seq is None) == (first is None):
        raise fail("give --seq (inclusion) or --first (consistency)")
    with _platform(data_dir, key_dir, database_url) as platform:
        ctx = cli_context()
        signed = {head.chain: head for head in platform.audit.signed_heads(ctx)}.get(chain)
        if size is None and signed is None:
            raise fail(f"chain {chain} has no signed checkpoint: give --size")
        target = size if size is not None else signed.size  # type: ignore[union-attr]
        document: dict[str, object] = {"chain": chain, "size": target}
        if seq is not None:
            inclusion = platform.audit.inclusion_proof(ctx, chain, seq, target)
            hashes, leaf = inclusion.proof, inclusion.leaf_hash
            document |= {"seq": seq, "leaf": inclusion.leaf.hex(), "leaf_hash": leaf.hex()}
        else:
            assert first is not None
            hashes = platform.audit.consistency_proof(ctx, chain, first, target).proof
            document |= {"first": first}
        document["proof"] = [h.hex() for h in hashes]
        if seq is not None and signed is not None and signed.size == target:
            merkle.verify_inclusion(seq - 1, target, leaf, hashes, signed.root)
            document["verified_against"] = signed.note
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


@catalog_app.command("export")
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
        with _platform(data_dir, key_dir, database_url) as platform:
            document = platform.catalogs.export(cli_context(), platform.labs.by_code(lab).id)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"catalogue written to {output}")


@catalog_app.command("import")
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
    with _platform(data_dir, key_dir, database_url) as platform:
        catalog = platform.catalogs.import_document(cli_context(), platform.labs.by_code(lab).id, document)
    size = f"{len(catalog.tests)} tests, {len(catalog.panels)} panels"
    out.print(f"Catalogue {catalog.version} ({size}) is now active.")


# --- results import ---------------------------------------------------------------------------

_POSITION = re.compile(r"^(pairs|entries)\[(\d+)\](?:\.(\w+))?:\s*(.*)$", re.DOTALL)


def _bad_line(message: str) -> typer.Exit:
    err.print(f"[red]refused, nothing written:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=1)


def _line_message(exc: LabvaultError, rows: list[CsvResultRow]) -> str | None:
    """``entries[3].value: is not a number`` from the services becomes ``line 5, value: ...``:
    batch positions are rows of the file. None for an error that is not about one row."""
    found = _POSITION.match(str(exc))
    if found is None or int(found.group(2)) >= len(rows):
        return None
    row = rows[int(found.group(2))]
    field, reason = found.group(3), found.group(4)
    if field == "item_id" or field is None:
        field = "barcode" if "specimen" in reason or "tube" in reason else "test_code"
    elif field == "correction_reason":
        field, reason = "value", "the result is already biologically validated: correct it with a reason"
    return f"line {row.line}, {field}: {reason}"


def _flag_table(summaries: list[ResultSummary], rows: list[CsvResultRow]) -> Table:
    """How many imported results got each flag, and on which lines of the file."""
    table = Table(box=None, pad_edge=False)
    table.add_column("flag")
    table.add_column("results", justify="right")
    table.add_column("lines")
    labels = (
        ("HH", "critical high (HH)"),
        ("LL", "critical low (LL)"),
        ("H", "high (H)"),
        ("L", "low (L)"),
        ("A", "abnormal (A)"),
        ("N", "normal"),
    )
    imported = summaries[: len(rows)]
    for flag, label in labels:
        lines = [str(row.line) for row, s in zip(rows, imported, strict=True) if s.flag == flag]
        if lines or flag in ("H", "L", "N"):
            shown = ", ".join(lines[:12]) + (" ..." if len(lines) > 12 else "") if flag != "N" else ""
            table.add_row(label, str(len(lines)), shown)
    return table


@results_app.command("import")
def results_import(
    file: Annotated[
        Path, typer.Argument(help="CSV with a header: barcode,test_code,value[,comment]; ',' or ';'; UTF-8.")
    ],
    lab: LabCode,
    user: Annotated[
        str, typer.Option("--user", help="The technician or biologist entering the results (their username).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every line against the lab's data, write nothing.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the user's password from stdin, then their one-time code on the next line "
            "(unless --totp-code is given).",
        ),
    ] = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Enter a batch of results from an analyzer export, all or nothing: a bad line is named by its
    line number and column (exit code 1) and nothing is written. Calculated tests (eGFR, LDL) follow.
    The user proves it is them with their password and one-time code."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    try:
        rows = parse_results_csv(data)
    except CsvLineError as exc:
        raise _bad_line(str(exc)) from None
    with _platform(data_dir, key_dir, database_url) as platform:
        info = platform.labs.by_code(lab)
        # The results are entered in this person's name: they prove it, as for `token create`.
        password = _read_password(password_stdin, confirm=False)
        account = platform.accounts.authenticate(user, password, _read_code(password_stdin, totp_code), "cli")
        if account.lab_id != info.id:
            raise fail(f"user {account.username} is not an account of laboratory {info.code}")
        if not account.active:
            raise fail(f"account {account.username} is disabled")
        ctx = context_for(account, Purpose.CARE, "cli")
        try:
            items = platform.items.resolve_items(ctx, [(row.barcode, row.test_code) for row in rows])
            entries = [
                ResultEntry(item, row.value, row.comment) for item, row in zip(items, rows, strict=True)
            ]
            enter = platform.items.rehearse_entry if dry_run else platform.results.enter
            summaries = enter(ctx, entries)
        except LabvaultError as exc:
            message = _line_message(exc, rows)
            if message is None:
                raise
            raise _bad_line(message) from None
    calculated = len(summaries) - len(rows)
    if dry_run:
        title = f"Dry run: {len(rows)} results would be entered, nothing written"
    else:
        title = f"{len(rows)} results entered by {account.username} in {info.code}"
    if calculated > 0:
        title += f" (+{calculated} calculated)"
    out.print(title, highlight=False)
    out.print(_flag_table(summaries, rows))
    critical = sum(1 for s in summaries if s.flag in ("HH", "LL"))
    if critical:
        out.print(
            f"[bold red]{critical} critical value(s):[/bold red] call the prescriber and record the call "
            "before biological validation."
        )


def main() -> None:
    app()
