"""Released results out over TLS, on both engines, to hl7apy's MLLP server behind a throw-away CA's
certificate: delivered when the receiver's certificate is trusted (and, when it asks, with
labvault's own client certificate); an untrusted certificate, or one for another name, fails the
attempt, which stays queued, retried and audited like a receiver down."""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.mllp import AbstractHandler, MLLPServer
from hl7apy.parser import parse_message
from sqlalchemy import select, update

from labvault.errors import InvalidInput
from labvault.identity.accounts import context_for
from labvault.interop.outbound_models import PENDING, SENT, OutboundReceiver, OutboxMessage
from labvault.interop.tls import ClientTls
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose
from tests.db_inspect import audit_events
from tests.factories import DESK, Bench
from tests.interop.tls_support import Authority, Issued, server_context


@dataclass
class TlsReceiver:
    """hl7apy's MLLP server behind TLS: validates each ORU^R01 strictly, answers AA."""

    context: ssl.SSLContext
    received: list[str] = field(default_factory=list)
    server: MLLPServer | None = None
    port: int = 0

    def start(self) -> TlsReceiver:
        receiver = self

        class Handler(AbstractHandler):  # type: ignore[misc]
            def reply(self) -> str:
                message = parse_message(self.incoming_message, validation_level=VALIDATION_LEVEL.STRICT)
                message.validate()
                receiver.received.append(self.incoming_message)
                control = message.msh.msh_10.to_er7()
                msh = "MSH|^~\\&|WARD|H|LABVAULT|L|20261207||ACK|A1|P|2.5"
                return f"\x0b{msh}\rMSA|AA|{control}\r\x1c\r"

        self.server = MLLPServer("127.0.0.1", 0, {"ORU^R01^ORU_R01": (Handler,)}, timeout=5)
        self.server.socket = self.context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("receivers"), "hospital")


@pytest.fixture(scope="module")
def server(ca: Authority) -> Issued:
    return ca.issue("ward-receiver", server=True)


@pytest.fixture
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des envois TLS")


@pytest.fixture
def receivers() -> Iterator[list[TlsReceiver]]:
    started: list[TlsReceiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def admin(bench: Bench) -> AccessContext:
    return context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)


def released(bench: Bench, receiver_port: int, tls: ClientTls) -> uuid.UUID:
    """A receiver on ``receiver_port`` over ``tls``, and an order released to it."""
    bench.platform.outbox.add_receiver(
        admin(bench), bench.interface("ward").username, "127.0.0.1", receiver_port, tls=tls
    )
    order = bench.order(tests=["K"])
    bench.enter_and_validate(order, {"K": "4.2"})
    bench.release(order)
    return order.id


def rows(bench: Bench, order_id: uuid.UUID) -> list[OutboxMessage]:
    with bench.platform.db.owner_engine.connect() as connection:
        table = OutboxMessage.__table__
        return connection.execute(select(table).where(table.c.order_id == order_id)).all()  # type: ignore[return-value]


def switch_off(bench: Bench) -> None:
    """The lab's receivers off: what a test leaves queued is not retried by later tests."""
    with bench.platform.db.owner_engine.begin() as connection:
        table = OutboundReceiver.__table__
        connection.execute(update(table).where(table.c.lab_id == bench.lab.id).values(active=False))


def test_a_trusted_receiver_gets_the_message(
    bench: Bench, ca: Authority, server: Issued, receivers: list[TlsReceiver]
) -> None:
    ward = TlsReceiver(server_context(None, server)).start()
    receivers.append(ward)
    order_id = released(bench, ward.port, ClientTls(ca.pem, "localhost"))
    assert bench.platform.outbox.deliver_due().sent >= 1
    [row] = rows(bench, order_id)
    assert (row.state, row.ack_code) == (SENT, "AA")
    [message] = ward.received
    assert "2823-3^" in message and "|4.2|mmol/L|" in message


def test_labvault_presents_its_client_certificate_when_asked(
    bench: Bench, ca: Authority, server: Issued, receivers: list[TlsReceiver]
) -> None:
    ours = ca.issue(f"labvault-{uuid.uuid4().hex[:6]}")
    ward = TlsReceiver(server_context(ca, server)).start()  # client certificates required
    receivers.append(ward)
    order_id = released(bench, ward.port, ClientTls(ca.pem, "localhost", str(ours.cert), str(ours.key)))
    bench.platform.outbox.deliver_due()
    [row] = rows(bench, order_id)
    assert row.state == SENT and len(ward.received) == 1


@pytest.mark.parametrize("why", ["another CA", "another name"])
def test_an_untrusted_receiver_gets_nothing_and_the_message_stays_queued(
    bench: Bench, ca: Authority, server: Issued, receivers: list[TlsReceiver], why: str
) -> None:
    if why == "another CA":
        impostor = Authority(Path(ca.directory), f"impostor-{uuid.uuid4().hex[:6]}")
        ward = TlsReceiver(server_context(None, impostor.issue("fake-ward", server=True))).start()
        tls = ClientTls(ca.pem, "localhost")
    else:
        ward = TlsReceiver(server_context(None, server)).start()
        tls = ClientTls(ca.pem, "dpi.hopital.test")  # the certificate names localhost only
    receivers.append(ward)
    try:
        order_id = released(bench, ward.port, tls)
        bench.platform.outbox.deliver_due()
        [row] = rows(bench, order_id)
        assert (row.state, row.attempts, row.ack_code) == (PENDING, 1, None)
        assert row.last_error == "the receiver's certificate is not trusted (TLS)"
        assert ward.received == []
        [attempt] = [
            e
            for e in audit_events(bench.platform, bench.lab.id, "interface.deliver")
            if e.detail.get("control_id") == row.control_id
        ]
        assert attempt.detail["outcome"] == PENDING
    finally:
        switch_off(bench)


def test_tls_lets_a_receiver_be_off_loopback_and_its_files_are_checked(bench: Bench, ca: Authority) -> None:
    outbox, ctx, name = bench.platform.outbox, admin(bench), bench.interface("ward").username
    with pytest.raises(ValueError, match="loopback"):
        outbox.add_receiver(ctx, name, "receiver.invalid", 2576)
    added = outbox.add_receiver(ctx, name, "receiver.invalid", 2576, tls=ClientTls(ca.pem))
    assert added.host == "receiver.invalid"
    with pytest.raises(InvalidInput):
        outbox.add_receiver(
            ctx, bench.interface("ward").username, "receiver.invalid", 2577, tls=ClientTls("x")
        )
    switch_off(bench)
