"""``labvault user``: individual staff accounts, their passwords and their MFA. The console is the
platform operator; a lab admin acts on their staff with ``--admin``, proving both factors."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated

import typer

from labvault.cli.opening import command_platform
from labvault.cli.options import (
    DEFAULT_DATA,
    DEFAULT_KEYS,
    DataDir,
    DbUrl,
    KeyDir,
    PasswordStdin,
    TotpCode,
    err,
    out,
)
from labvault.cli.prompts import read_code, read_password
from labvault.demo.seed import cli_context
from labvault.identity.accounts import context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role

app = typer.Typer(help="Staff accounts.", no_args_is_help=True)


@app.command("add")
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
    with command_platform(data_dir, key_dir, database_url) as platform:
        lab_id = platform.labs.by_code(lab).id if lab else None
        # An interface (an analyzer's connection) never signs in: a password nobody knows.
        interface = role is Role.INTERFACE
        password = secrets.token_urlsafe(32) if interface else read_password(password_stdin, confirm=True)
        creator = _acting_admin(platform, admin, password_stdin, totp_code)
        account = platform.accounts.create_user(
            creator, username, password, role, lab_id, full_name, physician_id
        )
    if interface:
        out.print(
            f"Interface {account.username} created; it never signs in: serve it on loopback with "
            f"labvault mllp --account {account.username} --port P (docs/INTEROP.md)."
        )
    else:
        out.print(f"User {account.username} ({account.role.value}) created; next: labvault user mfa-enroll.")


def _acting_admin(
    platform: Platform, admin: str | None, password_stdin: bool, totp_code: str | None
) -> AccessContext:
    """The console (platform operator), or the lab admin named by ``--admin`` proving both factors."""
    if admin is None:
        return cli_context()
    admin_password = read_password(password_stdin, confirm=False, prompt=f"Password of {admin}")
    code = read_code(password_stdin, totp_code, f"One-time code of {admin}")
    account = platform.accounts.authenticate(admin, admin_password, code, "cli")
    return context_for(account, Purpose.ADMINISTRATION, "cli")


AdminOption = Annotated[
    str | None,
    typer.Option(
        "--admin", help="The lab admin acting (asked for their password and code); default: the console."
    ),
]


@app.command("set-password")
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
    with command_platform(data_dir, key_dir, database_url) as platform:
        given = read_password(password_stdin, confirm=False, prompt="Password you were given")
        new = read_password(password_stdin, confirm=True, prompt="Your own new password")
        platform.accounts.set_own_password(username, given, new, totp_code, "cli")
    out.print(f"Password of {username} set; next: labvault user mfa-enroll (a new account) or sign in.")


@app.command("mfa-enroll")
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
    with command_platform(data_dir, key_dir, database_url) as platform:
        enrollment = platform.accounts.mfa.begin_enrollment(
            username, read_password(password_stdin, confirm=False), "cli"
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


@app.command("mfa-confirm")
def user_mfa_confirm(
    username: Annotated[str, typer.Option("--username")],
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Activate MFA with a first code from the authenticator app (after ``mfa-enroll``)."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        password = read_password(password_stdin, confirm=False)
        platform.accounts.mfa.confirm_enrollment(
            username, password, read_code(password_stdin, totp_code), "cli"
        )
    out.print("MFA active.")


@app.command("mfa-reset")
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
    with command_platform(data_dir, key_dir, database_url) as platform:
        actor = _acting_admin(platform, admin, password_stdin, totp_code)
        pending = platform.accounts.reset_mfa(actor, platform.accounts.by_username(username).id)
    if pending is not None:
        out.print(
            f"Requested (action {pending.id}): the laboratory's admins are alerted and may cancel it; "
            f"run this again after {pending.effective_at:%Y-%m-%d %H:%M} UTC to apply it."
        )
        return
    out.print(f"MFA of {username} reset: they enrol again with labvault user mfa-enroll.")


@app.command("update")
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
    with command_platform(data_dir, key_dir, database_url) as platform:
        actor = _acting_admin(platform, admin, password_stdin, totp_code)
        account = platform.accounts.update_user(
            actor, platform.accounts.by_username(username).id, role=role, active=active
        )
    state = "active" if account.active else "disabled"
    out.print(f"User {account.username}: {account.role.value}, {state}; their tokens are revoked.")
