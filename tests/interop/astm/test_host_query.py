"""ASTM host query, on both engines: a simulated analyzer (frame by frame over TCP) sends H, Q, L
for the tube it holds; after its EOT, labvault takes the line (ENQ) and answers with the tests
still to run on that tube, in the instrument's own codes, and the patient's labvault id only. An
unknown tube, and another lab's, get the same "no information" answer; every query is audited."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from labvault.identity.accounts import Account, context_for
from labvault.interop.astm import listener
from labvault.interop.astm.frames import ETB, ETX, frames_for_records
from labvault.interop.astm.inbox import AstmInbox
from labvault.interop.astm.query_answer import answer, queried_barcode
from labvault.interop.astm.records import parse_message
from labvault.platform import Platform
from labvault.security.access import Purpose
from labvault.security.alert_models import Alert
from tests.db_inspect import audit_events
from tests.factories import DESK, Bench
from tests.interop.astm.support import ACK, ENQ, EOT, NAK, Analyzer
from tests.interop.astm.test_astm_listener import running

STX, LF = 0x02, 0x0A


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des questions ASTM")


@pytest.fixture(scope="module")
def account(bench: Bench) -> Account:
    analyzer = bench.interface("cobas")
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    bench.platform.instrument_codes.set(admin, analyzer.username, "K-ISE", "K")
    return analyzer


@pytest.fixture(scope="module")
def port(bench: Bench, account: Account) -> Iterator[int]:
    inbox = AstmInbox(bench.platform.intake, bench.platform.worklist_query)
    with running(inbox, account.username) as bound:
        yield bound


def query(barcode: str) -> list[str]:
    return ["H|\\^&|||SYNTH-ANALYZER^1.0", f"Q|1|^{barcode}||^^^ALL||||||||O", "L|1|N"]


def read_frame(connection: socket.socket) -> bytes:
    """One frame (STX to LF), or the single control byte sent instead."""
    first = connection.recv(1)
    if first != bytes([STX]):
        return first
    frame = first
    while not frame.endswith(bytes([LF])):
        frame += connection.recv(1)
    return frame


def ask(port: int, barcode: str) -> list[str]:
    """The analyzer's query, then its answer: the records labvault sends once it has the line."""
    with Analyzer(port) as analyzer:
        assert set(analyzer.transfer(frames_for_records(query(barcode)))) == {ACK}  # ENQ, frames; EOT
        connection = analyzer.socket
        assert connection.recv(1) == ENQ  # labvault takes the line
        connection.sendall(ACK)
        text = b""
        while True:
            frame = read_frame(connection)
            if frame == EOT:
                break
            assert frame[0] == STX and frame[-5] in (ETX, ETB)
            text += frame[2:-5]
            connection.sendall(ACK)
    return [line for line in text.decode("latin-1").split("\r") if line]


def test_a_known_tube_gets_its_tests_in_the_instruments_codes(bench: Bench, port: int) -> None:
    order = bench.order(tests=["K", "NA"], urgent=True)
    barcode = order.specimens[0].barcode
    records = ask(port, barcode)
    assert [r[0] for r in records] == ["H", "P", "O", "O", "L"]
    assert records[0].split("|")[4] == "LABVAULT" and records[0].split("|")[9] == "SYNTH-ANALYZER"
    assert records[1] == f"P|1|{order.patient_id}"  # the lab's patient id, nothing else
    orders = [r.split("|") for r in records[2:4]]
    assert [o[2] for o in orders] == [barcode, barcode]
    assert sorted(o[4] for o in orders) == ["^^^K-ISE", "^^^NA"]  # K mapped back to the instrument's code
    assert {o[5] for o in orders} == {"S"} and {o[25] for o in orders} == {"Q"}
    assert records[-1] == "L|1|F"
    parsed = parse_message("\r".join(records))  # an answer labvault itself reads back
    assert [o.order.specimen_id for p in parsed.patients for o in p.orders] == [barcode, barcode]
    [event] = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "worklist.query")
        if e.patient_id == order.patient_id
    ]
    assert event.detail["tests"] == 2 and event.detail["channel"] == "astm"


def test_a_measured_test_is_not_asked_again(bench: Bench, port: int) -> None:
    order = bench.order(tests=["K", "NA"])
    bench.enter(order, {"K": "4.1"})
    records = ask(port, order.specimens[0].barcode)
    assert [r.split("|")[4] for r in records if r.startswith("O|")] == ["^^^NA"]


def test_an_unknown_tube_gets_no_information(bench: Bench, port: int) -> None:
    before = len(audit_events(bench.platform, bench.lab.id, "worklist.query"))
    records = ask(port, f"NOSUCH{uuid.uuid4().hex[:6]}")
    assert [r[0] for r in records] == ["H", "L"] and records[-1] == "L|1|I"
    after = audit_events(bench.platform, bench.lab.id, "worklist.query")
    assert len(after) == before + 1 and not after[-1].detail["found"] and after[-1].patient_id is None


def test_another_labs_tube_is_no_information_and_no_leak(platform: Platform, bench: Bench, port: int) -> None:
    other = Bench.create(platform, "Un autre laboratoire")
    order = other.order(tests=["K"])
    records = ask(port, order.specimens[0].barcode)
    assert records[1:] == ["L|1|I"]
    assert not [
        e for e in audit_events(platform, other.lab.id, "worklist.query") if e.patient_id == order.patient_id
    ]
    mine = audit_events(platform, bench.lab.id, "worklist.query")
    assert not mine[-1].detail["found"]


def test_a_results_message_still_enters_results_on_the_same_line(bench: Bench, port: int) -> None:
    order = bench.order(tests=["K"])
    barcode = order.specimens[0].barcode
    results = [
        "H|\\^&|||SYNTH-ANALYZER^1.0",
        "P|1",
        f"O|1|{barcode}||^^^K-ISE",
        "R|1|^^^K-ISE|4.6|mmol/L||||F",
        "L|1|N",
    ]
    with Analyzer(port) as analyzer:
        assert set(analyzer.transfer(frames_for_records(results))) == {ACK}  # nothing asked, no ENQ
    result = bench.result(order.id, "K")
    assert result is not None and result.value == "4.6"


def test_ranges_are_not_answered() -> None:
    message = parse_message("H|\\^&\rQ|1|^ALL||^^^ALL\rQ|2|^T1|^T9|^^^ALL\rQ|3|^T2||^^^ALL\rL|1|N\r")
    assert [queried_barcode(q) for q in message.queries] == [None, None, "T2"]
    head, end = answer(message.header, None, dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.UTC))
    assert head.endswith("|P|LIS2-A2|20261207083000") and end == "L|1|I"


def test_a_busy_analyzer_is_asked_again_and_a_nakked_frame_sent_again(
    bench: Bench, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener, "LINE_BUSY_PAUSE", 0.05)
    order = bench.order(tests=["NA"])
    inbox = AstmInbox(bench.platform.intake, bench.platform.worklist_query)
    with running(inbox, account.username) as bound, Analyzer(bound) as analyzer:
        assert set(analyzer.transfer(frames_for_records(query(order.specimens[0].barcode)))) == {ACK}
        connection = analyzer.socket
        assert connection.recv(1) == ENQ
        connection.sendall(NAK)  # busy
        assert connection.recv(1) == ENQ  # asked again after the pause
        connection.sendall(ACK)
        first = read_frame(connection)
        connection.sendall(NAK)  # a line error
        assert read_frame(connection) == first  # the same frame again
        connection.sendall(ACK)
        records = [first[2:-5]]
        while (frame := read_frame(connection)) != EOT:
            records.append(frame[2:-5])
            connection.sendall(ACK)
    assert [r[:1] for r in records] == [b"H", b"P", b"O", b"L"]


def test_a_tube_not_received_gets_no_information(bench: Bench, account: Account) -> None:
    order = bench.order(tests=["K"], receive=False)
    inbox = AstmInbox(bench.platform.intake, bench.platform.worklist_query)
    text = "\r".join(query(order.specimens[0].barcode)) + "\r"
    [records] = inbox.answer(account.username, text, "astm:test") or [[]]
    assert records[1:] == ["L|1|I"]


def test_a_disabled_interface_gets_no_answer_and_an_alert(bench: Bench) -> None:
    analyzer = bench.interface("disabled")
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    bench.platform.accounts.update_user(admin, analyzer.id, active=False)
    order = bench.order(tests=["K"])
    inbox = AstmInbox(bench.platform.intake, bench.platform.worklist_query)
    text = "\r".join(query(order.specimens[0].barcode)) + "\r"
    assert inbox.answer(analyzer.username, text, "astm:test") == []
    with bench.platform.db.owner_engine.connect() as connection:
        table = Alert.__table__
        kinds = connection.execute(
            select(table.c.kind).where(table.c.lab_id == bench.lab.id, table.c.actor_id == analyzer.id)
        ).scalars()
        assert "interface_refused" in set(kinds)
    assert AstmInbox(bench.platform.intake).answer(analyzer.username, text, "x") is None  # import: none
