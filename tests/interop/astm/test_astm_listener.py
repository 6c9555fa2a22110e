"""A simulated analyzer (a socket speaking E1381 frame by frame) against the ASTM listener of one
interface account, on both engines: results land as entered, the last frame's ACK only after the
commit, a bad checksum NAKed then retransmitted, a repeated message has no second effect, a
refused message is ACKed and kept as a dead letter naming its place, and nothing is ACKed that was
not committed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from labvault.identity.accounts import Account
from labvault.interop.astm.frames import frames_for_records
from labvault.interop.astm.inbox import AstmInbox, AstmOutcome
from labvault.interop.astm.listener import serve_astm
from labvault.interop.models import ACCEPTED, REFUSED
from labvault.platform import Platform
from tests.factories import Bench
from tests.interop.astm.support import ACK, ENQ, NAK, Analyzer, corrupt, records, rows


@contextmanager
def running(inbox: AstmInbox, username: str, **options: Any) -> Iterator[int]:
    """``serve_astm`` in a thread of its own; yields the bound port."""
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
            serve_astm(inbox, username, "127.0.0.1", 0, ready=on_ready, stop=stop, **options)
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the listener did not start"
    try:
        yield bound[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des automates ASTM")


@pytest.fixture(scope="module")
def account(bench: Bench) -> Account:
    return bench.interface()


@pytest.fixture(scope="module")
def port(bench: Bench, account: Account) -> Iterator[int]:
    with running(AstmInbox(bench.platform.intake), account.username) as bound:
        yield bound


def test_results_land_and_the_last_ack_follows_the_commit(bench: Bench, account: Account, port: int) -> None:
    order = bench.order(tests=["K", "NA"])
    barcode = order.specimens[0].barcode
    message = records(
        barcode, "R|1|^^^K|4.2|mmol/L||N||F", "C|1|I|slightly hemolysed|G", "R|2|^^^NA|139|mmol/L||||F"
    )
    frames = frames_for_records(message)
    with Analyzer(port) as analyzer:
        assert analyzer.send(ENQ) == ACK
        for frame in frames[:3]:
            assert analyzer.send(frame) == ACK
        assert analyzer.send(corrupt(frames[3])) == NAK  # a line error: the analyzer sends it again
        for frame in frames[3:-1]:
            assert analyzer.send(frame) == ACK
        assert bench.result(order.id, "K") is None  # the message is not complete yet
        assert analyzer.send(frames[-1]) == ACK
        potassium = bench.result(order.id, "K")  # committed before that ACK, not after
        assert potassium is not None and potassium.value == "4.2" and potassium.status == "entered"
        assert potassium.comment == "slightly hemolysed"
        analyzer.socket.sendall(b"\x04")
    sodium = bench.result(order.id, "NA")
    assert sodium is not None and sodium.value == "139" and sodium.status == "entered"
    [row] = [r for r in rows(bench, account.id) if r.results == 2]
    assert (row.state, row.error_location, row.ack) == (ACCEPTED, None, b"accepted 2 results")
    assert len(row.control_id) == 64  # no H-3: the message's SHA-256
    assert row.message_enc and barcode.encode() not in row.message_enc


def test_the_same_message_again_has_no_second_effect(bench: Bench, account: Account, port: int) -> None:
    order = bench.order(tests=["K"])
    message = records(order.specimens[0].barcode, "R|1|^^^K|4.4|mmol/L||||F")
    with Analyzer(port) as analyzer:
        assert set(analyzer.transfer(frames_for_records(message))) == {ACK}
        assert set(analyzer.transfer(frames_for_records(message))) == {ACK}
    result = bench.result(order.id, "K")
    assert result is not None and result.version == 1 and result.value == "4.4"


def test_the_header_control_id_recognises_a_restamped_resend(
    bench: Bench, account: Account, port: int
) -> None:
    order = bench.order(tests=["K"])
    control = f"M{order.id.hex[:10]}"
    first = records(order.specimens[0].barcode, "R|1|^^^K|4.5|mmol/L||||F", message_id=control)
    again = [first[0] + "|||||||||20261207083000", *first[1:]]  # re-stamped H-14
    with Analyzer(port) as analyzer:
        analyzer.transfer(frames_for_records(first))
        analyzer.transfer(frames_for_records(again))
    result = bench.result(order.id, "K")
    assert result is not None and result.version == 1
    assert [r.control_id for r in rows(bench, account.id)].count(control) == 1


def test_an_unknown_specimen_is_acked_kept_as_a_dead_letter_and_enters_nothing(
    bench: Bench, account: Account, port: int
) -> None:
    order = bench.order(tests=["K"])
    unknown = f"NOSUCH{order.id.hex[:6]}"
    message = records(unknown, "R|1|^^^K|4.2|mmol/L||||F", message_id=f"U{order.id.hex[:10]}")
    with Analyzer(port) as analyzer:
        assert set(analyzer.transfer(frames_for_records(message))) == {ACK}
    [row] = [r for r in rows(bench, account.id) if r.control_id == f"U{order.id.hex[:10]}"]
    assert (row.state, row.ack_code, row.error_location) == (REFUSED, "AE", "O[1]-3")
    assert row.error_reason and unknown not in row.error_reason and unknown.encode() not in row.ack
    assert row.ack.startswith(b"refused O[1]-3: ")
    assert bench.result(order.id, "K") is None


class FailingInbox(AstmInbox):
    """The database is down: every message raises."""

    def __init__(self) -> None:
        self.calls = 0

    def receive(self, username: str, message: object, origin: str) -> AstmOutcome:  # type: ignore[override]
        self.calls += 1
        raise RuntimeError("database down")


def test_an_internal_error_closes_the_line_without_acking_the_last_frame() -> None:
    inbox = FailingInbox()
    frames = frames_for_records(records("T1", "R|1|^^^K|4.2|mmol/L||||F"))
    with running(inbox, "analyzer") as bound, Analyzer(bound) as analyzer:
        assert analyzer.send(ENQ) == ACK
        assert all(analyzer.send(frame) == ACK for frame in frames[:-1])
        assert analyzer.send(frames[-1]) == b""  # closed, that frame un-ACKed: the analyzer resends it
    assert inbox.calls == 1


class RecordingInbox(AstmInbox):
    def __init__(self) -> None:
        self.texts: list[str] = []

    def receive(self, username: str, message: object, origin: str) -> AstmOutcome:  # type: ignore[override]
        assert isinstance(message, str)
        self.texts.append(message)
        return AstmOutcome(True, "x", results=1)


def test_silence_past_the_receive_timeout_discards_the_unfinished_message() -> None:
    inbox = RecordingInbox()
    message = records("T1", "R|1|^^^K|4.2|mmol/L||||F")
    frames = frames_for_records(message)
    with running(inbox, "analyzer", receive_timeout=0.2) as bound, Analyzer(bound) as analyzer:
        assert analyzer.send(ENQ) == ACK
        assert analyzer.send(frames[0]) == ACK and analyzer.send(frames[1]) == ACK  # H, P
        time.sleep(0.6)  # the analyzer went silent: its H and P are thrown away
        assert set(analyzer.transfer(frames_for_records(message[2:]))) == {ACK}  # O, R, L
    assert inbox.texts == ["\r".join(message[2:]) + "\r"]  # not joined to the discarded H and P
