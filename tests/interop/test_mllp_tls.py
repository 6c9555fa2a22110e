"""The MLLP listener with TLS, on both engines: one listener serves the interface accounts of two
labs, each known by its pinned client certificate (throw-away CA and certificates made in the test):
a pinned certificate's messages are acknowledged and attributed to its account; a certificate of
the CA pinned nowhere is refused with a HIGH alert; no certificate, or one of another CA, fails the
handshake; a disabled or unpinned account's certificate is refused."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labvault.cli import app
from labvault.errors import InvalidInput
from labvault.identity.accounts import Account, context_for
from labvault.interop.hl7v2.listener import TlsListener, serve_mllp
from labvault.interop.models import InterfaceMessage
from labvault.interop.tls import fingerprint_of_pem, server_context
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose
from labvault.security.alert_models import Alert
from tests.db_inspect import audit_events
from tests.factories import DESK, Bench
from tests.interop.tls_support import Authority, Issued, client_context

START, END = b"\x0b", b"\x1c\r"


@dataclass
class Setup:
    port: int
    ca: Authority
    first: Bench
    second: Bench
    directory: Path


def admin(bench: Bench) -> AccessContext:
    return context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)


@pytest.fixture(scope="module")
def setup(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("tls")
    ca = Authority(directory, "labs-interfaces")
    server = ca.issue("mllp-server", server=True)
    first = Bench.create(platform, "Laboratoire TLS un")
    second = Bench.create(platform, "Laboratoire TLS deux")
    context = server_context(server.cert, server.key, ca.path)
    tls = TlsListener(context, platform.certificates, frozenset({first.lab.id, second.lab.id}))
    ready = threading.Event()
    bound: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def on_ready(port: int) -> None:
        bound.append(port)
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(
            serve_mllp(platform.hl7_inbox, None, "127.0.0.1", 0, ready=on_ready, stop=stop, tls=tls)
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the listener did not start"
    yield Setup(bound[0], ca, first, second, directory)
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


def pinned(setup: Setup, bench: Bench) -> tuple[Account, Issued]:
    """A new interface account of ``bench``'s lab with a certificate of the CA pinned on it."""
    account = bench.interface("tls")
    issued = setup.ca.issue(f"client-{uuid.uuid4().hex[:8]}")
    setup.first.platform.certificates.pin(admin(bench), account.username, issued.pem)
    return account, issued


def exchange(port: int, context: ssl.SSLContext, message: bytes) -> str | None:
    """One MLLP message over TLS; its acknowledgement, or None when the connection was refused (a
    failed handshake, or closed without an answer)."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=15) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as connection,
        ):
            connection.sendall(START + message + END)
            answer = b""
            while END not in answer:
                chunk = connection.recv(4096)
                if not chunk:
                    return None
                answer += chunk
    except (ssl.SSLError, ConnectionError):
        return None
    return answer.strip(b"\x0b\x1c\r").decode()


def oru(control_id: str, barcode: str, value: str = "4.2") -> bytes:
    segments = [
        f"MSH|^~\\&|COBAS|BENCH1|LABVAULT|LAB|20261207083000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        "PID|1||",
        f"OBR|1||{barcode}|24323-8^Metabolic panel^LN",
        f"OBX|1|NM|2823-3^Potassium^LN||{value}|mmol/L|||||F",
        f"SPM|1|^{barcode}||119297000^Blood^SCT",
    ]
    return "\r".join(segments).encode() + b"\r"


def sender_of(bench: Bench, control_id: str) -> uuid.UUID | None:
    table = InterfaceMessage.__table__
    with bench.platform.db.owner_engine.connect() as connection:
        found = connection.execute(select(table.c.sender_id).where(table.c.control_id == control_id)).scalar()
    return found  # type: ignore[no-any-return]


def alerts(bench: Bench) -> list[dict[str, object]]:
    table = Alert.__table__
    with bench.platform.db.owner_engine.connect() as connection:
        rows = connection.execute(
            select(table.c.kind, table.c.severity, table.c.detail, table.c.actor_id).where(
                table.c.lab_id == bench.lab.id
            )
        ).all()
    return [dict(row._mapping) for row in rows]


def test_each_pinned_certificate_acts_as_its_own_account_of_its_own_lab(setup: Setup) -> None:
    for bench in (setup.first, setup.second):
        account, issued = pinned(setup, bench)
        order = bench.order(tests=["K"])
        control = f"T{uuid.uuid4().hex[:10]}"
        ack = exchange(setup.port, client_context(setup.ca, issued), oru(control, order.specimens[0].barcode))
        assert ack is not None and f"MSA|AA|{control}" in ack
        result = bench.result(order.id, "K")
        assert result is not None and result.value == "4.2" and result.status == "entered"
        assert sender_of(bench, control) == account.id
        entered = [
            e
            for e in audit_events(bench.platform, bench.lab.id, "result.enter")
            if e.detail.get("message") == control
        ]
        assert [e.actor_id for e in entered] == [account.id]


def test_a_tube_of_the_other_lab_is_unknown_to_a_certificate(setup: Setup) -> None:
    _account, issued = pinned(setup, setup.first)
    order = setup.second.order(tests=["K"])
    control = f"X{uuid.uuid4().hex[:10]}"
    ack = exchange(setup.port, client_context(setup.ca, issued), oru(control, order.specimens[0].barcode))
    assert ack is not None and f"MSA|AE|{control}" in ack
    assert setup.second.result(order.id, "K") is None


def test_a_certificate_of_the_ca_pinned_nowhere_is_refused_with_an_alert(setup: Setup) -> None:
    stranger = setup.ca.issue(f"stranger-{uuid.uuid4().hex[:8]}")
    order = setup.first.order(tests=["K"])
    control = f"U{uuid.uuid4().hex[:10]}"
    ack = exchange(setup.port, client_context(setup.ca, stranger), oru(control, order.specimens[0].barcode))
    assert ack is None
    assert setup.first.result(order.id, "K") is None and sender_of(setup.first, control) is None
    prefix = fingerprint_of_pem(stranger.pem)[:16]
    for bench in (setup.first, setup.second):  # every lab the listener serves is told
        refused = [a for a in alerts(bench) if prefix in str(a["detail"])]
        assert len(refused) == 1
        assert (refused[0]["kind"], refused[0]["severity"]) == ("interface_refused", "high")


def test_no_client_certificate_fails_the_handshake(setup: Setup) -> None:
    order = setup.first.order(tests=["K"])
    message = oru(f"N{uuid.uuid4().hex[:10]}", order.specimens[0].barcode)
    assert exchange(setup.port, client_context(setup.ca, None), message) is None
    assert setup.first.result(order.id, "K") is None


def test_a_certificate_of_another_ca_fails_the_handshake(setup: Setup) -> None:
    other = Authority(setup.directory, f"elsewhere-{uuid.uuid4().hex[:6]}")
    forged = other.issue(f"forged-{uuid.uuid4().hex[:8]}")
    account = setup.first.interface("tls")
    setup.first.platform.certificates.pin(admin(setup.first), account.username, forged.pem)  # even pinned
    order = setup.first.order(tests=["K"])
    message = oru(f"O{uuid.uuid4().hex[:10]}", order.specimens[0].barcode)
    assert exchange(setup.port, client_context(setup.ca, forged), message) is None
    assert setup.first.result(order.id, "K") is None


def test_a_disabled_accounts_certificate_is_refused_with_an_alert(setup: Setup) -> None:
    bench = setup.first
    account, issued = pinned(setup, bench)
    bench.platform.accounts.update_user(admin(bench), account.id, active=False)
    order = bench.order(tests=["K"])
    control = f"D{uuid.uuid4().hex[:10]}"
    assert (
        exchange(setup.port, client_context(setup.ca, issued), oru(control, order.specimens[0].barcode))
        is None
    )
    assert bench.result(order.id, "K") is None
    assert any(a["kind"] == "interface_refused" and a["actor_id"] == account.id for a in alerts(bench))


def test_an_unpinned_certificate_is_refused_and_pinning_is_audited(setup: Setup) -> None:
    bench = setup.first
    account, issued = pinned(setup, bench)
    bench.platform.certificates.unpin(admin(bench), account.username)
    order = bench.order(tests=["K"])
    control = f"P{uuid.uuid4().hex[:10]}"
    assert (
        exchange(setup.port, client_context(setup.ca, issued), oru(control, order.specimens[0].barcode))
        is None
    )
    actions = [
        e.action
        for e in audit_events(bench.platform, bench.lab.id)
        if e.object_id == str(account.id) and e.action.startswith("interface.cert_")
    ]
    assert actions == ["interface.cert_pin", "interface.cert_unpin"]


def test_one_certificate_is_pinned_on_one_account(setup: Setup) -> None:
    bench = setup.first
    _account, issued = pinned(setup, bench)
    other = bench.interface("tls")
    with pytest.raises(InvalidInput, match="already pinned"):
        bench.platform.certificates.pin(admin(bench), other.username, issued.pem)
    with pytest.raises(InvalidInput, match="PEM"):
        bench.platform.certificates.pin(admin(bench), other.username, b"not a certificate")


def test_the_command_serves_pinned_certificates_of_the_labs_named(setup: Setup) -> None:
    """``labvault mllp --tls-cert --tls-key --client-ca --lab``, as a process of its own."""
    bench = setup.first
    platform = bench.platform
    _account, issued = pinned(setup, bench)
    server = setup.ca.issue(f"command-server-{uuid.uuid4().hex[:6]}", server=True)
    settings = platform.settings
    command = [sys.executable, "-m", "labvault.cli", "mllp", "--port", "0", "--lab", bench.lab.code]
    command += [
        "--tls-cert",
        str(server.cert),
        "--tls-key",
        str(server.key),
        "--client-ca",
        str(setup.ca.path),
    ]
    command += ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
    if settings.database_url:
        command += ["--database-url", settings.database_url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"listening on 127\.0\.0\.1:(\d+) for pinned client certificates", line)
        assert found, f"the listener did not start (exit {process.poll()})"
        order = bench.order(tests=["K"])
        control = f"C{uuid.uuid4().hex[:10]}"
        message = oru(control, order.specimens[0].barcode)
        ack = exchange(int(found.group(1)), client_context(setup.ca, issued), message)
        assert ack is not None and f"MSA|AA|{control}" in ack
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ([], "--account (or TLS"),
        (["--account", "a", "--host", "0.0.0.0"], "not a loopback address"),  # noqa: S104 - refused
        (["--tls-cert", "x.pem"], "TLS takes --tls-cert, --tls-key, --client-ca and --lab"),
    ],
)
def test_the_command_refuses_half_a_configuration(options: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["mllp", "--port", "0", *options])
    assert result.exit_code == 2 and says in " ".join(result.output.split())
