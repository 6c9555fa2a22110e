"""A real MLLP peer (python-hl7's ``MLLPClient``) against the listener of one interface account, on
both engines: results land in the worklist as entered, the acknowledgement names every refusal's
segment and field, a repeated message has no second effect, a disabled interface is refused at its
next message with an alert, identity vigilance on PID-3, and the message is kept sealed."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hl7.client import MLLPClient
from sqlalchemy import select

from labvault.identity.accounts import Account, context_for
from labvault.interop.hl7v2.listener import serve_mllp
from labvault.interop.models import ACCEPTED, REFUSED, InterfaceMessage
from labvault.interop.serving import require_loopback
from labvault.platform import Platform
from labvault.security.access import Purpose
from labvault.security.alert_models import Alert
from labvault.workflow.order_data import OrderRecord
from tests.db_inspect import audit_events
from tests.factories import DESK, GIVEN_PASSWORD, Bench


@dataclass
class Listener:
    port: int
    account: Account
    stop: asyncio.Event
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    def send(self, message: bytes) -> str:
        with MLLPClient("127.0.0.1", self.port) as client:
            answer: bytes = client.send_message(message)
        return answer.strip(b"\x0b\x1c\r").decode()


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des automates")


@pytest.fixture(scope="module")
def listener(bench: Bench) -> Iterator[Listener]:
    account = bench.interface()
    ready = threading.Event()
    bound: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        def on_ready(port: int) -> None:
            bound.append(port)
            ready.set()

        loop.run_until_complete(
            serve_mllp(bench.platform.hl7_inbox, account.username, "127.0.0.1", 0, ready=on_ready, stop=stop)
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the listener did not start"
    yield Listener(bound[0], account, stop, loop, thread)
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


def oru(control_id: str, barcode: str, *obx: str, pid: str = "PID|1||") -> bytes:
    segments = [
        f"MSH|^~\\&|COBAS|BENCH1|LABVAULT|LAB|20261207083000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        pid,
        f"OBR|1||{barcode}|24323-8^Metabolic panel^LN",
        *obx,
        f"SPM|1|^{barcode}||119297000^Blood^SCT",
    ]
    return "\r".join(segments).encode() + b"\r"


def potassium_sodium(bench: Bench) -> tuple[OrderRecord, str]:
    order = bench.order(tests=["K", "NA"])
    return order, order.specimens[0].barcode


def messages(bench: Bench, control_id: str) -> list[InterfaceMessage]:
    with bench.platform.db.owner_engine.connect() as connection:
        table = InterfaceMessage.__table__
        rows = connection.execute(select(table).where(table.c.control_id == control_id)).all()
    return rows  # type: ignore[return-value]


def test_results_enter_the_workflow_and_the_ack_follows_the_commit(bench: Bench, listener: Listener) -> None:
    order, barcode = potassium_sodium(bench)
    control = f"M{uuid.uuid4().hex[:10]}"
    ack = listener.send(
        oru(
            control,
            barcode,
            "OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|3.5-5.1|N|||F",
            "NTE|1|L|slightly hemolysed",
            "OBX|2|NM|2951-2^Sodium^LN||139|mmol/L|||||F",
        )
    )
    assert f"MSA|AA|{control}" in ack
    potassium = bench.result(order.id, "K")
    assert potassium is not None and potassium.value == "4.2" and potassium.status == "entered"
    assert potassium.comment == "slightly hemolysed"
    sodium = bench.result(order.id, "NA")
    assert sodium is not None and sodium.value == "139"
    waiting = {
        line.item_id
        for line in bench.platform.results.worklist(bench.technician, "biochemistry", "technical")
    }
    assert {bench.item_id(order, "K"), bench.item_id(order, "NA")} <= waiting
    [row] = messages(bench, control)
    assert (row.state, row.ack_code, row.results) == (ACCEPTED, "AA", 2)
    entered = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "result.enter")
        if e.detail.get("message") == control
    ]
    assert len(entered) == 2 and {e.actor_id for e in entered} == {listener.account.id}
    assert {e.detail["channel"] for e in entered} == {"hl7v2"}
    assert row.message_enc and barcode.encode() not in row.message_enc  # sealed, never in clear
    assert row.ack.decode() == ack + "\r" or row.ack.decode().strip() == ack


def test_a_repeated_control_id_is_acknowledged_again_without_a_second_effect(
    bench: Bench, listener: Listener
) -> None:
    order, barcode = potassium_sodium(bench)
    control = f"R{uuid.uuid4().hex[:10]}"
    message = oru(control, barcode, "OBX|1|NM|2823-3^Potassium^LN||4.4|mmol/L|||||F")
    first = listener.send(message)
    second = listener.send(message)
    assert first == second and f"MSA|AA|{control}" in first
    result = bench.result(order.id, "K")
    assert result is not None and result.version == 1
    assert len(messages(bench, control)) == 1


def test_a_wrong_loinc_code_is_refused_naming_obx_3_and_kept_as_a_dead_letter(
    bench: Bench, listener: Listener
) -> None:
    order, barcode = potassium_sodium(bench)
    control = f"B{uuid.uuid4().hex[:10]}"
    ack = listener.send(oru(control, barcode, "OBX|1|NM|xx2823-3^Potassium^LN||4.2|mmol/L|||||F"))
    assert f"MSA|AE|{control}" in ack and "ERR||OBX^1^3^1^1|103^" in ack
    assert bench.result(order.id, "K") is None
    [row] = messages(bench, control)
    assert (row.state, row.ack_code, row.error_location) == (REFUSED, "AE", "OBX[1]-3.1")


@pytest.mark.parametrize(
    ("obx", "barcode", "err"),
    [
        ("OBX|1|NM|99999-9^Unknown^LN||40|U/L|||||F", None, "ERR||OBX^1^3^1^1|103^"),  # not in the catalogue
        ("OBX|1|NM|2823-3^Potassium^LN||4.2|mg/dL|||||F", None, "ERR||OBX^1^6^1^1|103^"),  # wrong unit
        ("OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|||||F", "NOSUCHTUBE", "ERR||SPM^1^2^1|204^"),
        ("OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|||||F", None, "ERR||OBX^1^3^1^1|204^"),  # not on this tube
        ("OBX|1|NM|2823-3^Potassium^LN||abc|mmol/L|||||F", None, "ERR||OBX^1^5^1|102^"),
    ],
)
def test_refusals_name_the_field(
    bench: Bench, listener: Listener, obx: str, barcode: str | None, err: str
) -> None:
    order, tube = potassium_sodium(bench)
    control = f"E{uuid.uuid4().hex[:10]}"
    ack = listener.send(oru(control, barcode or tube, obx))
    assert f"MSA|AE|{control}" in ack and err in ack, ack
    assert bench.result(order.id, "K") is None


def test_pid_3_must_be_the_patient_of_the_tube(bench: Bench, listener: Listener) -> None:
    order, barcode = potassium_sodium(bench)
    someone_else = bench.patient()
    obx = "OBX|1|NM|2823-3^Potassium^LN||4.0|mmol/L|||||F"
    control = f"P{uuid.uuid4().hex[:10]}"
    ack = listener.send(oru(control, barcode, obx, pid=f"PID|1||{someone_else}^^^^PI"))
    assert f"MSA|AE|{control}" in ack and "ERR||PID^1^3^1|204^" in ack
    assert bench.result(order.id, "K") is None
    control = f"Q{uuid.uuid4().hex[:10]}"
    ack = listener.send(oru(control, barcode, obx, pid=f"PID|1||{order.patient_id}^^^^PI"))
    assert f"MSA|AA|{control}" in ack


def test_a_restricted_result_enters_and_stays_hidden_from_the_technician(
    bench: Bench, listener: Listener
) -> None:
    order = bench.order(tests=["HIV"])
    barcode = order.specimens[0].barcode
    control = f"H{uuid.uuid4().hex[:10]}"
    ack = listener.send(oru(control, barcode, "OBX|1|CWE|56888-1^HIV 1/2 Ag+Ab^LN||negative||||||F"))
    assert f"MSA|AA|{control}" in ack
    result = bench.result(order.id, "HIV")
    assert result is not None and result.value == "negative"
    assert bench.platform.orders.get(bench.technician, order.id).hidden_items == 1
    waiting = {
        line.item_id
        for line in bench.platform.results.worklist(bench.technician, "immunology/serology", "technical")
    }
    assert bench.item_id(order, "HIV") not in waiting


def test_a_disabled_interface_is_refused_at_its_next_message_with_an_alert(bench: Bench) -> None:
    account = bench.interface()
    order, barcode = potassium_sodium(bench)
    inbox = bench.platform.hl7_inbox
    control = f"D{uuid.uuid4().hex[:10]}"
    message = oru(control, barcode, "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|||||F")
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    bench.platform.accounts.update_user(admin, account.id, active=False)
    ack = inbox.receive(account.username, message, "mllp:127.0.0.1").decode()
    assert f"MSA|AE|{control}" in ack and "ERR||MSH^1^3^1|204^" in ack
    assert bench.result(order.id, "K") is None
    with bench.platform.db.owner_engine.connect() as connection:
        table = Alert.__table__
        kinds = connection.execute(
            select(table.c.kind).where(table.c.lab_id == bench.lab.id, table.c.actor_id == account.id)
        ).scalars()
        assert "interface_refused" in set(kinds)


def test_an_interface_account_cannot_sign_in(bench: Bench) -> None:
    account = bench.interface()
    from labvault.errors import Unauthenticated

    with pytest.raises(Unauthenticated):
        bench.platform.accounts.authenticate(account.username, GIVEN_PASSWORD, "000000", "test")


def test_another_labs_tube_is_unknown(platform: Platform, listener: Listener) -> None:
    other = Bench.create(platform, "Autre laboratoire")
    order = other.order(tests=["K"])
    control = f"X{uuid.uuid4().hex[:10]}"
    ack = listener.send(
        oru(control, order.specimens[0].barcode, "OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|||||F")
    )
    assert f"MSA|AE|{control}" in ack and "ERR||SPM^1^2^1|204^" in ack
    assert other.result(order.id, "K") is None


def test_listeners_serve_loopback_only() -> None:
    require_loopback("127.0.0.1")
    require_loopback("::1")
    with pytest.raises(ValueError, match="loopback"):
        require_loopback("0.0.0.0")  # noqa: S104 - the address refused
