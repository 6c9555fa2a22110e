"""Orders in over MLLP (OML^O21, ORM^O01), sent by python-hl7's ``MLLPClient`` to the listener of
an order-sending interface, on both engines: the order lands on the patient the INS names; an
unknown patient becomes a pending identity reception confirms or merges; identity vigilance
(PID-7), unknown tests (OBR-4) and prescribers (ORC-12) refused naming the field; a repeated
MSH-10 has no second effect; an interface not marked an order sender, or another lab's, changes
nothing here."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hl7.client import MLLPClient
from sqlalchemy import select

from labvault.errors import NotFound
from labvault.identity.accounts import Account, context_for
from labvault.identity.synthetic import generate_nir, generate_rpps
from labvault.interop.hl7v2.listener import serve_mllp
from labvault.interop.models import ACCEPTED, REFUSED, InterfaceMessage
from labvault.interop.order_models import PlacerOrder
from labvault.platform import Platform
from labvault.security.access import Purpose
from tests.db_inspect import audit_events
from tests.factories import DESK, Bench

HL7 = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "hl7"
TEST_INS_OID = "1.2.250.1.213.1.4.10"
BIRTH = dt.date(1971, 3, 14)


@dataclass
class Listener:
    port: int
    account: Account

    def send(self, message: bytes) -> str:
        with MLLPClient("127.0.0.1", self.port) as client:
            answer: bytes = client.send_message(message)
        return answer.strip(b"\x0b\x1c\r").decode()


@contextmanager
def listening(bench: Bench, account: Account) -> Iterator[Listener]:
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
    try:
        yield Listener(bound[0], account)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def order_sender(bench: Bench, name: str = "dpi") -> Account:
    account = bench.interface(name)
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    assert bench.platform.order_intake.mark_sender(admin, account.username)
    return account


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des prescriptions")


@pytest.fixture(scope="module")
def listener(bench: Bench) -> Iterator[Listener]:
    with listening(bench, order_sender(bench)) as running:
        yield running


@pytest.fixture(scope="module")
def rpps(bench: Bench) -> str:
    return bench.physician("Ordonnateur", "Hippolyte")[1]


@dataclass(frozen=True)
class Person:
    """A synthetic patient as a message gives them."""

    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: str
    ins: str | None = None

    def pid(self, *, birth_date: dt.date | None = None, lab_id: uuid.UUID | None = None) -> str:
        ids = []
        if self.ins:
            ids.append(f"{self.ins}^^^ASIP-SANTE-INS-NIR&{TEST_INS_OID}&ISO^INS")
        if lab_id:
            ids.append(f"{lab_id}^^^^PI")
        born = (birth_date or self.birth_date).strftime("%Y%m%d")
        return f"PID|1||{'~'.join(ids)}||{self.birth_name}^{self.first_names}^^^^^L||{born}|{self.sex}"


def person(*, ins: bool = True, sex: str = "F", birth_date: dt.date = BIRTH) -> Person:
    rng = random.Random(uuid.uuid4().int)
    nir = generate_nir(rng, sex, birth_date, "75", f"{rng.randint(101, 120):03d}") if ins else None
    suffix = "".join(rng.choice("BCDFGHJKLMNPRSTVZ") for _ in range(6))
    return Person(f"MARTIN{suffix}", "Camille", birth_date, sex, nir)


def registered(bench: Bench, who: Person) -> uuid.UUID:
    data = bench.factory.patient_data(
        birth_name=who.birth_name,
        first_names=who.first_names,
        birth_date=who.birth_date,
        sex=who.sex,
        used_name=None,
        nir=None,
        ins=who.ins,
        ins_oid=TEST_INS_OID if who.ins else None,
        ins_status="qualifiee" if who.ins else None,
    )
    return bench.platform.patients.register(bench.reception, data, accept_homonym=True).id


def obr(seq: int, code: str, placer: str) -> str:
    return f"OBR|{seq}|{placer}^DPI||{code}"


def oml(control: str, pid: str, *groups: str, rpps: str = "", placer: str = "") -> bytes:
    """An OML^O21 2.5.1 of one ORC (placer ``placer``, prescriber ``rpps`` as the CI-SIS
    IdNatPs) with the OBR ``groups``."""
    placer = placer or f"P{uuid.uuid4().hex[:8]}"
    prescriber = (
        f"8{rpps}^ORDONNATEUR^Hippolyte^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^^^^RPPS" if rpps else ""
    )
    segments = [
        f"MSH|^~\\&|DPI|HOPITAL|LABVAULT|LAB|20261207083000||OML^O21^OML_O21|{control}|P|2.5.1"
        "||||||UNICODE UTF-8",
        pid,
        "PV1|1|O",
        f"ORC|NW|{placer}^DPI||G{placer}|||||20261207082000|||{prescriber}",
        *(group.replace("{placer}", placer) for group in groups),
    ]
    return "\r".join(segments).encode() + b"\r"


def control() -> str:
    return f"O{uuid.uuid4().hex[:12]}"


POTASSIUM = "OBR|1|{placer}^DPI||2823-3^Potassium^LN"


def message_rows(platform: Platform, control_id: str) -> list[InterfaceMessage]:
    with platform.db.owner_engine.connect() as connection:
        table = InterfaceMessage.__table__
        return list(connection.execute(select(table).where(table.c.control_id == control_id)).all())  # type: ignore[arg-type]


def pending_ids(bench: Bench) -> set[uuid.UUID]:
    return {p.record.id for p in bench.platform.pending_identities.list(bench.reception)}


def test_an_oml_with_a_known_ins_attaches_its_order_to_that_patient(
    bench: Bench, listener: Listener, rpps: str
) -> None:
    who = person()
    patient_id = registered(bench, who)
    sent = control()
    ack = listener.send(
        oml(
            sent,
            who.pid(),
            POTASSIUM,
            "OBR|2|{placer}^DPI||1104^Numeration formule sanguine^NABM",  # a panel by its NABM act
            "OBR|3|{placer}^DPI||GLU^Glycemie^L",  # the lab's own code
            rpps=rpps,
            placer="PLC-0001-" + sent,
        )
    )
    assert ack.split("\r")[1] == f"MSA|AA|{sent}", ack
    [order] = bench.platform.orders.for_patient(bench.reception, patient_id)
    codes = {item.test_code for item in order.items}
    assert {"K", "GLU", "HGB", "PLT"} <= codes
    assert {item.panel_code for item in order.items if item.test_code == "HGB"} == {"NFS"}
    physician = bench.platform.physicians.find_by_rpps(bench.reception, rpps)
    assert order.prescriber_id == physician.id
    assert patient_id not in pending_ids(bench)
    [row] = message_rows(bench.platform, sent)
    assert (row.state, row.ack_code, row.message_type) == (ACCEPTED, "AA", "OML^O21")
    assert row.message_enc and b"PLC-0001" not in row.message_enc
    with bench.platform.db.owner_engine.connect() as connection:
        placers = connection.execute(
            select(PlacerOrder.__table__).where(PlacerOrder.__table__.c.order_id == order.id)
        ).all()
    assert len(placers) == 1 and b"PLC-0001" not in (placers[0].placer_enc or b"")
    matched = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "patient.match")
        if e.object_id == str(patient_id)
    ]
    assert matched and matched[0].detail["by"] == "ins" and matched[0].actor_id == listener.account.id


def test_no_match_makes_a_pending_identity_that_reception_confirms(bench: Bench, listener: Listener) -> None:
    who = person()
    first, second = control(), control()
    assert f"MSA|AA|{first}" in listener.send(oml(first, who.pid(), POTASSIUM))
    pending = next(
        p for p in bench.platform.pending_identities.list(bench.reception) if p.record.data.ins == who.ins
    )
    assert pending.record.data.birth_name == who.birth_name and pending.record.data.ins_status == "provisoire"
    assert pending.orders == 1
    # The same INS again: the same (still pending) patient, never a second one.
    assert f"MSA|AA|{second}" in listener.send(oml(second, who.pid(), POTASSIUM))
    assert len(bench.platform.orders.for_patient(bench.reception, pending.record.id)) == 2
    created = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "patient.create")
        if e.object_id == str(pending.record.id)
    ]
    assert len(created) == 1 and created[0].detail["pending"] is True
    confirmed = bench.platform.pending_identities.confirm(bench.reception, pending.record.id)
    assert confirmed.revision == 2
    assert pending.record.id not in pending_ids(bench)
    with pytest.raises(NotFound):
        bench.platform.pending_identities.confirm(bench.reception, pending.record.id)


def test_reception_merges_a_pending_identity_into_the_patient_it_is(bench: Bench, listener: Listener) -> None:
    who = person(ins=False)
    patient_id = registered(bench, who)
    sent = control()
    assert f"MSA|AA|{sent}" in listener.send(oml(sent, who.pid(), POTASSIUM))  # no INS: no match
    pending = next(
        p
        for p in bench.platform.pending_identities.list(bench.reception)
        if p.record.data.birth_name == who.birth_name
    )
    assert pending.possible_matches == (patient_id,)
    assert bench.platform.pending_identities.merge(bench.reception, pending.record.id, patient_id) == 1
    [order] = bench.platform.orders.for_patient(bench.reception, patient_id)
    assert bench.platform.orders.get(bench.reception, order.id).patient_id == patient_id  # links re-sealed
    assert pending.record.id not in pending_ids(bench)


def test_a_birth_date_that_is_not_the_ins_patients_is_refused_naming_pid_7(
    bench: Bench, listener: Listener
) -> None:
    who = person()
    patient_id = registered(bench, who)
    sent = control()
    ack = listener.send(oml(sent, who.pid(birth_date=BIRTH + dt.timedelta(days=1)), POTASSIUM))
    assert f"MSA|AE|{sent}" in ack and "ERR||PID^1^7^1|204^" in ack, ack
    assert BIRTH.strftime("%Y%m%d") not in ack.split("\r", 2)[2]  # no value in the ERR
    assert bench.platform.orders.for_patient(bench.reception, patient_id) == []
    [row] = message_rows(bench.platform, sent)
    assert (row.state, row.error_location) == (REFUSED, "PID[1]-7")


def test_an_unknown_loinc_code_is_refused_naming_obr_4_and_nothing_is_created(
    bench: Bench, listener: Listener
) -> None:
    who = person()
    before = pending_ids(bench)
    sent = control()
    ack = listener.send(oml(sent, who.pid(), POTASSIUM, "OBR|2|{placer}^DPI||99999-9^Inconnu^LN"))
    assert f"MSA|AE|{sent}" in ack and "ERR||OBR^2^4^1|103^" in ack, ack
    assert pending_ids(bench) == before  # the pending identity went with the refused message


def test_an_unknown_prescriber_is_refused_naming_orc_12(bench: Bench, listener: Listener) -> None:
    sent = control()
    unknown = generate_rpps(random.Random(uuid.uuid4().int))
    ack = listener.send(oml(sent, person().pid(), POTASSIUM, rpps=unknown))
    assert f"MSA|AE|{sent}" in ack and "ERR||ORC^1^12^1|204^" in ack, ack


def test_a_repeated_control_id_is_acknowledged_again_with_one_order(bench: Bench, listener: Listener) -> None:
    who = person()
    patient_id = registered(bench, who)
    sent = control()
    message = oml(sent, who.pid(), POTASSIUM)
    first = listener.send(message)
    second = listener.send(message)
    assert first == second and f"MSA|AA|{sent}" in first
    assert len(bench.platform.orders.for_patient(bench.reception, patient_id)) == 1
    assert len(message_rows(bench.platform, sent)) == 1
    # The same placer number under a new control id: refused, still one order.
    again = control()
    placer = message.split(b"ORC|NW|")[1].split(b"^")[0].decode()
    ack = listener.send(oml(again, who.pid(), POTASSIUM, placer=placer))
    assert f"MSA|AE|{again}" in ack and "ERR||ORC^1^2^1|205^" in ack, ack
    assert len(bench.platform.orders.for_patient(bench.reception, patient_id)) == 1


def test_an_interface_not_marked_an_order_sender_is_refused(bench: Bench) -> None:
    analyzer = bench.interface("analyzer")
    who = person()
    patient_id = registered(bench, who)
    sent = control()
    with listening(bench, analyzer) as running:
        ack = running.send(oml(sent, who.pid(), POTASSIUM))
    assert f"MSA|AR|{sent}" in ack and "ERR||MSH^1^9^1|200^" in ack, ack
    assert bench.platform.orders.for_patient(bench.reception, patient_id) == []


def test_another_labs_interface_cannot_attach_orders_to_this_labs_patient(
    platform: Platform, bench: Bench
) -> None:
    who = person()
    patient_id = registered(bench, who)
    other = Bench.create(platform, "Laboratoire voisin")
    with listening(other, order_sender(other, "voisin")) as running:
        by_id = control()
        ack = running.send(oml(by_id, who.pid(lab_id=patient_id), POTASSIUM))
        assert f"MSA|AE|{by_id}" in ack and "ERR||PID^1^3^1|204^" in ack, ack
        by_ins = control()
        assert f"MSA|AA|{by_ins}" in running.send(oml(by_ins, who.pid(), POTASSIUM))
    assert bench.platform.orders.for_patient(bench.reception, patient_id) == []
    # Its lab's INS index does not know this lab's patient: a pending identity there, for its reception.
    assert [p.record.data.ins for p in platform.pending_identities.list(other.reception)] == [who.ins]


def test_the_public_orm_example_gets_a_precise_acknowledgement(bench: Bench, listener: Listener) -> None:
    path = HL7 / "orm-example.hl7"
    if not path.exists():
        pytest.skip(f"no {path}")
    before = pending_ids(bench)
    ack = listener.send(path.read_bytes())
    # ORM^O01 2.3 from an EHR: its X-ray code (OBR-4, no coding system) is no test of this lab.
    assert "MSA|AE|497" in ack and "ERR||OBR^1^4^1|103^" in ack, ack
    assert pending_ids(bench) == before


def test_an_orm_o01_with_a_labvault_patient_id_is_accepted(bench: Bench, listener: Listener) -> None:
    who = person(ins=False)
    patient_id = registered(bench, who)
    sent = control()
    message = oml(sent, who.pid(lab_id=patient_id), POTASSIUM).replace(b"OML^O21^OML_O21", b"ORM^O01")
    assert f"MSA|AA|{sent}" in listener.send(message.replace(b"|2.5.1|", b"|2.3|"))
    [order] = bench.platform.orders.for_patient(bench.reception, patient_id)
    assert [item.test_code for item in order.items] == ["K"]


def test_a_birth_name_that_is_not_the_ins_patients_is_refused_naming_pid_5(
    bench: Bench, listener: Listener
) -> None:
    who = person()
    patient_id = registered(bench, who)
    sent = control()
    other = Person("DURANDXYZ", who.first_names, who.birth_date, who.sex, who.ins)
    ack = listener.send(oml(sent, other.pid(), POTASSIUM))
    assert f"MSA|AE|{sent}" in ack and "ERR||PID^1^5^1|204^" in ack, ack
    assert "DURANDXYZ" not in ack
    assert bench.platform.orders.for_patient(bench.reception, patient_id) == []


def test_an_order_sender_unmarked_is_refused_at_its_next_message(bench: Bench) -> None:
    account = order_sender(bench, "ward")
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    who = person()
    patient_id = registered(bench, who)
    with listening(bench, account) as running:
        first = control()
        assert f"MSA|AA|{first}" in running.send(oml(first, who.pid(), POTASSIUM))
        assert bench.platform.order_intake.mark_sender(admin, account.username, sends=False)
        second = control()
        ack = running.send(oml(second, who.pid(), POTASSIUM))
        assert f"MSA|AR|{second}" in ack and "ERR||MSH^1^9^1|200^" in ack, ack
    assert len(bench.platform.orders.for_patient(bench.reception, patient_id)) == 1
    events = audit_events(bench.platform, bench.lab.id, "interface.order_sender_remove")
    assert [e.object_id for e in events][-1] == str(account.id)
