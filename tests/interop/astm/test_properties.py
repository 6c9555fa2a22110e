"""Properties: no byte sequence and no text makes the ASTM layer fail otherwise than with its own
errors, and generated records survive frames, the receiver and the parser unchanged."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from labvault.interop.astm.errors import RecordError
from labvault.interop.astm.fields import join_record
from labvault.interop.astm.framing import (
    ACK,
    ENQ,
    EOT,
    NAK,
    Event,
    FrameRejected,
    Receiver,
    Reply,
    TransferDiscarded,
    build_frame,
    frames_for_records,
    messages,
    replies,
)
from labvault.interop.astm.records import parse_message

PROPERTIES = settings(deadline=None, database=None, max_examples=150)

CONTROL = [bytes([c]) for c in (ENQ, EOT, 0x02, 0x03, 0x17, 0x0D, 0x0A, ACK, NAK)]
# Line bytes: arbitrary, control characters, and pieces of real frames, so that the machine gets
# past establishment and into frames often.
PIECES = st.one_of(
    st.binary(max_size=12),
    st.sampled_from(CONTROL),
    st.builds(build_frame, st.integers(0, 9), st.binary(max_size=20), st.booleans()),
)


def _comparable(events: list[Event]) -> list[object]:
    """The events, with their errors as type and message (exceptions do not compare equal)."""
    out: list[object] = []
    for e in events:
        if isinstance(e, FrameRejected):
            out.append((type(e.error), str(e.error), e.attempt, e.replied))
        elif isinstance(e, TransferDiscarded):
            out.append((type(e.error), str(e.error), e.reason, e.frames))
        else:
            out.append(e)
    return out


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


@PROPERTIES
@given(st.lists(PIECES, max_size=30), st.lists(st.integers(0, 10_000), max_size=10))
def test_no_bytes_make_the_receiver_raise(pieces: list[bytes], cuts: list[int]) -> None:
    receiver = Receiver(max_frame_bytes=64, max_message_bytes=128)
    data = b"".join(pieces)
    for chunk in _chunks(data, cuts):
        for event in receiver.feed(chunk):
            if isinstance(event, Reply):
                assert event.data in (bytes([ACK]), bytes([NAK]))
    receiver.timeout()
    assert receiver.timeout() == []


@PROPERTIES
@given(st.lists(PIECES, max_size=30), st.lists(st.integers(0, 10_000), max_size=10))
def test_chunking_does_not_change_what_the_receiver_does(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    whole = Receiver().feed(data)
    split = Receiver()
    events = [e for chunk in _chunks(data, cuts) for e in split.feed(chunk)]
    assert _comparable(events) == _comparable(whole)


RECORD_TEXT = st.text(
    alphabet=st.sampled_from("HPORCQMLS|\\^&!~$%FSREXN0123456789AZaz \r\n"), max_size=120
) | st.text(max_size=60)


MESSAGE_TEXT = st.one_of(
    RECORD_TEXT, RECORD_TEXT.map(lambda t: "H|\\^&|" + t), RECORD_TEXT.map(lambda t: "H|\\^&\r" + t + "\rL|1")
)


@PROPERTIES
@given(MESSAGE_TEXT)
def test_no_text_makes_the_parser_raise_anything_but_a_record_error(text: str) -> None:
    try:
        parse_message(text)
    except RecordError as error:
        assert str(error).startswith("record ")


# Field values: any Latin-1 text, delimiters and control characters included (they are escaped).
VALUE = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=30)
CODE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF), min_size=1, max_size=8)
RESULT = st.tuples(CODE, VALUE, VALUE)  # test code, value, units
ORDER = st.tuples(VALUE, st.lists(RESULT, min_size=1, max_size=3), st.booleans())  # specimen, results, QC
PATIENT = st.tuples(VALUE, VALUE, st.lists(ORDER, min_size=1, max_size=2))  # id, last name, orders


@PROPERTIES
@given(
    st.lists(PATIENT, min_size=1, max_size=3),
    st.integers(1, 60),
    st.lists(st.integers(0, 10_000), max_size=20),
)
def test_generated_records_survive_frames_and_the_receiver(
    patients: list[tuple[str, str, list[tuple[str, list[tuple[str, str, str]], bool]]]],
    max_text: int,
    cuts: list[int],
) -> None:
    records = [join_record("H", ["", "", "", "SYNTH-ANALYZER"])]
    for p, (patient_id, last, orders) in enumerate(patients, start=1):
        records.append(join_record("P", [str(p), patient_id, "", "", [last, "TEST"]]))
        for o, (specimen, results, qc) in enumerate(orders, start=1):
            tests = [["", "", "", code] for code, _, _ in results]
            action = "Q" if qc else "N"
            records.append(join_record("O", [str(o), specimen, "", tests, "R", "", "", "", "", "", action]))
            for r, (code, value, units) in enumerate(results, start=1):
                records.append(join_record("R", [str(r), ["", "", "", code], value, units, "", "", "", "F"]))
    records.append(join_record("L", ["1", "N"]))

    line = bytes([ENQ]) + b"".join(frames_for_records(records, max_text=max_text)) + bytes([EOT])
    receiver = Receiver()
    events = [e for chunk in _chunks(line, cuts) for e in receiver.feed(chunk)]
    assert set(replies(events)) == {ACK}
    received = messages(events)
    assert len(received) == len(records)
    message = parse_message(b"".join(received).decode("latin-1"))

    assert len(message.patients) == len(patients)
    for group, (patient_id, last, orders) in zip(message.patients, patients, strict=True):
        assert group.patient.practice_id == (patient_id or None)
        assert group.patient.name.last == last
        for order_group, (specimen, results, qc) in zip(group.orders, orders, strict=True):
            assert order_group.order.specimen_id == specimen
            assert order_group.order.is_qc is qc
            assert [t.code for t in order_group.order.tests] == [code for code, _, _ in results]
            got = [(r.result.test.code, r.result.value, r.result.units or "") for r in order_group.results]
            assert got == results
