"""Released results out as ORU^R01 through the durable outbox, to an independent receiver: hl7apy's
own MLLP server, which validates every message strictly. A receiver sees only what it is entitled
to (restricted tests: only the prescriber's own receiver), a receiver that is down gets it later,
a refusal is kept with the receiver's reason, every delivery is audited."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.mllp import AbstractHandler, MLLPServer
from hl7apy.parser import parse_message
from sqlalchemy import select

from labvault.identity.accounts import context_for
from labvault.interop.outbound_models import PENDING, REFUSED, SENT, OutboundReceiver, OutboxMessage
from labvault.interop.outbox import Delivered
from labvault.oversight.read_mark_models import ReadMark
from labvault.platform import Platform
from labvault.security.access import Purpose
from tests.db_inspect import audit_events
from tests.factories import DESK, Bench


@dataclass
class Receiver:
    """An hl7apy MLLP server that validates each ORU^R01 strictly and answers ``answer``."""

    answer: str = "AA"
    received: list[str] = field(default_factory=list)
    server: MLLPServer | None = None
    port: int = 0

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(AbstractHandler):  # type: ignore[misc]
            def reply(self) -> str:
                message = parse_message(self.incoming_message, validation_level=VALIDATION_LEVEL.STRICT)
                message.validate()
                receiver.received.append(self.incoming_message)
                control = message.msh.msh_10.to_er7()
                err = (
                    "\rERR|||207^Application internal error^HL70357|E||||ward closed"
                    if receiver.answer != "AA"
                    else ""
                )
                msh = "MSH|^~\\&|WARD|H|LABVAULT|L|20261207||ACK|A1|P|2.5"
                return f"\x0b{msh}\rMSA|{receiver.answer}|{control}{err}\r\x1c\r"

        self.server = MLLPServer("127.0.0.1", port, {"ORU^R01^ORU_R01": (Handler,)}, timeout=5)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bench(platform: Platform) -> Bench:
    """A lab of its own per test: each test's receivers are the lab's only ones."""
    return Bench.create(platform, "Laboratoire des envois")


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        if receiver.server is not None:
            receiver.stop()


def admin(bench: Bench) -> object:
    return context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)


def outbox_receiver_account(bench: Bench, port: int) -> uuid.UUID:
    with bench.platform.db.owner_engine.connect() as connection:
        table = OutboundReceiver.__table__
        found = connection.execute(
            select(table.c.account_id).where(table.c.lab_id == bench.lab.id, table.c.port == port)
        ).scalar_one()
    return found  # type: ignore[no-any-return]


def outbox_rows(bench: Bench, order_id: uuid.UUID) -> list[OutboxMessage]:
    with bench.platform.db.owner_engine.connect() as connection:
        table = OutboxMessage.__table__
        return connection.execute(select(table).where(table.c.order_id == order_id)).all()  # type: ignore[return-value]


def test_each_receiver_gets_what_it_is_entitled_to_validated_by_hl7apy(
    bench: Bench, receivers: list[Receiver]
) -> None:
    ward, doctor = Receiver().start(), Receiver().start()
    receivers += [ward, doctor]
    physician_id, _rpps = bench.physician()
    outbox = bench.platform.outbox
    outbox.add_receiver(admin(bench), bench.interface("ward").username, "127.0.0.1", ward.port)  # type: ignore[arg-type]
    outbox.add_receiver(
        admin(bench), bench.interface("ward").username, "127.0.0.1", doctor.port, physician_id
    )  # type: ignore[arg-type]
    order = bench.order(tests=["K", "NA", "HIV"], prescriber_id=physician_id)
    bench.enter_and_validate(order, {"K": "4.2", "NA": "139", "HIV": "negative"})
    bench.release(order)
    assert {row.state for row in outbox_rows(bench, order.id)} == {PENDING}
    assert outbox.deliver_due().sent >= 2
    assert {row.state for row in outbox_rows(bench, order.id)} == {SENT}
    [to_ward], [to_doctor] = ward.received, doctor.received
    assert "2823-3^" in to_ward and "|4.2|mmol/L|" in to_ward and "56888-1" not in to_ward
    assert "56888-1^" in to_doctor and "|negative|" in to_doctor
    assert f"{order.patient_id}^^^LABVAULT^PI" in to_doctor
    parsed = parse_message(to_doctor.replace("\n", "\r"), find_groups=False)
    obr = parsed.obr
    assert (obr.obr_25.to_er7(), obr.obr_16.to_er7().split("^")[0]) == ("F", _rpps)
    assert obr.obr_22.to_er7().startswith("20")
    delivered = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "interface.deliver")
        if e.patient_id == order.patient_id
    ]
    assert len(delivered) == 2
    marks = ReadMark.__table__
    with bench.platform.db.owner_engine.connect() as connection:
        readers = set(
            connection.execute(select(marks.c.reader_id).where(marks.c.lab_id == bench.lab.id)).scalars()
        )
    assert not readers & {e.actor_id for e in delivered}, "a delivery is no one's read: no read marks"


def test_a_receiver_down_gets_it_later_and_a_refusal_is_kept(bench: Bench, receivers: list[Receiver]) -> None:
    late = Receiver()
    late.start()
    port = late.port
    late.stop()  # down: nothing listens on its port
    outbox = bench.platform.outbox
    outbox.add_receiver(admin(bench), bench.interface("ward").username, "127.0.0.1", port)  # type: ignore[arg-type]
    order = bench.order(tests=["K"])
    bench.enter_and_validate(order, {"K": "4.0"})
    bench.release(order)
    outbox.deliver_due()
    [row] = [r for r in outbox_rows(bench, order.id)]
    assert (row.state, row.attempts) == (PENDING, 1) and row.last_error.startswith("no acknowledgement")
    real_clock = outbox.clock
    try:
        outbox.clock = lambda: real_clock() + dt.timedelta(seconds=6)  # past the first pause
        back = Receiver().start(port)
        receivers.append(back)
        outbox.deliver_due()
    finally:
        outbox.clock = real_clock
    [row] = outbox_rows(bench, order.id)
    assert (row.state, row.attempts, row.ack_code) == (SENT, 2, "AA") and len(back.received) == 1

    receiver_user = outbox_receiver_account(bench, port)
    admin_ctx = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    bench.platform.accounts.update_user(admin_ctx, receiver_user, active=False)
    third = bench.order(tests=["K"])
    bench.enter_and_validate(third, {"K": "3.9"})
    bench.release(third)
    assert outbox.deliver_due() == Delivered() and len(back.received) == 1, "a disabled receiver waits"
    bench.platform.accounts.update_user(admin_ctx, receiver_user, active=True)
    assert outbox.deliver_due().sent == 1 and len(back.received) == 2

    back.answer = "AE"
    second = bench.order(tests=["NA"])
    bench.enter_and_validate(second, {"NA": "140"})
    bench.release(second)
    outbox.deliver_due()
    [refused] = outbox_rows(bench, second.id)
    assert (refused.state, refused.ack_code, refused.last_error) == (REFUSED, "AE", "ward closed")
