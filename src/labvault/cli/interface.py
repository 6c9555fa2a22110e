"""``labvault interface``: an interface's own test codes mapped to the lab's catalogue, by a lab
admin or biologist (``--admin``, proving both factors)."""

from __future__ import annotations

import ssl
import time
import uuid
from pathlib import Path
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
    fail,
    out,
)
from labvault.cli.user import _acting_admin
from labvault.interop.tls import ClientTls

app = typer.Typer(help="Interfaces (analyzers): their test codes.", no_args_is_help=True)

Account = Annotated[str, typer.Option("--account", help="The interface account.")]
Admin = Annotated[
    str, typer.Option("--admin", help="A lab admin or biologist (asked for password and code).")
]


@app.command("map")
def map_code(
    account: Account,
    code: Annotated[str, typer.Option("--code", help="The instrument's own test code.")],
    test: Annotated[str, typer.Option("--test", help="The catalogue's test code.")],
    admin: Admin,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """The instrument's --code, sent by --account, means the catalogue's --test (replacing any)."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        mapping = platform.instrument_codes.set(ctx, account, code, test)
    out.print(f"{mapping.interface}: {mapping.code} -> {mapping.test_code}")


@app.command("unmap")
def unmap_code(
    account: Account,
    code: Annotated[str, typer.Option("--code")],
    admin: Admin,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        platform.instrument_codes.remove(ctx, account, code)
    out.print(f"{account}: {code.strip().upper()} unmapped")


@app.command("codes")
def list_codes(
    account: Account,
    admin: Admin,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        for mapping in platform.instrument_codes.list(ctx, account):
            out.print(f"{mapping.code}\t{mapping.test_code}")


@app.command("receiver-add")
def receiver_add(
    account: Account,
    port: Annotated[int, typer.Option("--port", min=1, max=65535)],
    admin: Admin,
    host: Annotated[str, typer.Option("--host", help="Loopback only without TLS.")] = "127.0.0.1",
    physician_id: Annotated[
        uuid.UUID | None,
        typer.Option("--physician-id", help="Only this physician's orders, restricted tests included."),
    ] = None,
    tls_ca: Annotated[
        Path | None, typer.Option("--tls-ca", help="TLS: the CA that signs the receiver's certificate (PEM).")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="TLS: labvault's client certificate, if asked (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="TLS: its private key (PEM).")] = None,
    tls_server_name: Annotated[
        str | None, typer.Option("--tls-server-name", help="TLS: the name on its certificate (else --host).")
    ] = None,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Released results go to HOST:PORT as ORU^R01, as the interface account --account; over TLS
    with --tls-ca (the receiver's certificate verified, host name included)."""
    tls: ClientTls | None = None
    if tls_ca is None and (tls_cert or tls_key or tls_server_name):
        raise fail("--tls-cert, --tls-key and --tls-server-name need --tls-ca")
    if (tls_cert is None) != (tls_key is None):
        raise fail("--tls-cert and --tls-key go together")
    if tls_ca is not None:
        try:
            ca_pem = tls_ca.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read {tls_ca}: {type(exc).__name__}") from None
        tls = ClientTls(
            ca_pem,
            tls_server_name,
            str(tls_cert.resolve()) if tls_cert else None,
            str(tls_key.resolve()) if tls_key else None,
        )
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        try:
            receiver = platform.outbox.add_receiver(ctx, account, host, port, physician_id, tls)
        except ssl.SSLError as exc:
            raise fail(f"TLS files: {exc.reason or type(exc).__name__}") from None
    out.print(f"{receiver.interface} receives released results on {receiver.host}:{receiver.port}")


@app.command("deliver")
def deliver(
    once: Annotated[bool, typer.Option("--once", help="Send what is due, then stop.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.2, max=60.0)] = 2.0,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Send the outbox's due messages to the receivers, retrying those not acknowledged."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        while True:
            done = platform.outbox.deliver_due()
            if done.sent or done.refused or done.retried:
                out.print(f"sent {done.sent}, refused {done.refused}, to retry {done.retried}")
            if once:
                return
            time.sleep(interval)


@app.command("pin")
def pin_certificate(
    account: Account,
    cert: Annotated[Path, typer.Option("--cert", help="The interface's TLS client certificate (PEM).")],
    admin: Admin,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """A TLS listener knows --account by this client certificate (its SHA-256; replacing any)."""
    try:
        pem = cert.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {cert}: {exc.strerror or type(exc).__name__}") from None
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        fingerprint = platform.certificates.pin(ctx, account, pem)
    out.print(f"{account}: client certificate SHA-256 {fingerprint}")


@app.command("unpin")
def unpin_certificate(
    account: Account,
    admin: Admin,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """--account's client certificate is known no more: its TLS connections are refused."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        platform.certificates.unpin(ctx, account)
    out.print(f"{account}: client certificate unpinned")


@app.command("order-sender")
def order_sender(
    account: Account,
    admin: Admin,
    remove: Annotated[bool, typer.Option("--remove", help="Stop it sending orders.")] = False,
    password_stdin: PasswordStdin = False,
    totp_code: TotpCode = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """--account may send orders (OML^O21, ORM^O01) and so create pending identities; --remove:
    no longer (its next order message is refused, AR)."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = _acting_admin(platform, admin, password_stdin, totp_code)
        changed = platform.order_intake.mark_sender(ctx, account, sends=not remove)
    state = "does not send orders" if remove else "sends orders"
    out.print(f"{account.strip().lower()} {state}{'' if changed else ' (unchanged)'}")
