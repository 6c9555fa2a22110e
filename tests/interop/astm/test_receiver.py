"""The receiving state machine, driven byte by byte as an analyzer would drive it."""

from __future__ import annotations

from labvault.interop.astm.errors import ChecksumMismatch, FrameSequenceError, MalformedFrame, TooManyAttempts
from labvault.interop.astm.framing import (
    ACK,
    ENQ,
    EOT,
    MAX_ATTEMPTS,
    NAK,
    RECEIVE_TIMEOUT,
    Event,
    FrameRejected,
    FrameRepeated,
    MessageReceived,
    Receiver,
    State,
    TransferDiscarded,
    TransferEnded,
    TransferStarted,
    build_frame,
    frames_for,
    frames_for_records,
    messages,
    replies,
)

ACK_ = bytes([ACK])
NAK_ = bytes([NAK])
ENQ_ = bytes([ENQ])
EOT_ = bytes([EOT])

RECORDS = [
    "H|\\^&|||SYNTH-ANALYZER^1.0|||||||P|LIS2-A2|20240102030405",
    "P|1||PID-TEST-0001||DOE^JANE",
    "O|1|SPEC-0001||^^^GLU\\^^^K|R||||||N||||||||||||||F",
    "R|1|^^^GLU|5.4|mmol/L|3.9 to 5.8|N||F||||20240102030000",
    "L|1|N",
]


def corrupt(frame: bytes) -> bytes:
    """The frame with one text byte changed: its checksum no longer matches."""
    return frame[:3] + bytes([frame[3] ^ 0x01]) + frame[4:]


def in_chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, i, k = [], 0, 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        chunks.append(data[i : i + size])
        i, k = i + size, k + 1
    return chunks


def feed_all(receiver: Receiver, chunks: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += receiver.feed(chunk)
    return events


def test_a_simulated_analyzer_session() -> None:
    """ENQ; frames in odd chunk sizes; a corrupted frame NAKed then retransmitted and ACKed; a frame
    retransmitted after its ACK was lost; EOT. Every message delivered exactly once, in order."""
    receiver = Receiver()
    frames = frames_for_records(RECORDS, max_text=17)  # several ETB frames per record, numbers wrap
    assert len(frames) > 8
    sent: list[bytes] = []  # what the receiver answered, one reply per thing the analyzer sent
    delivered: list[bytes] = []

    def send(data: bytes) -> list[Event]:
        events = feed_all(receiver, in_chunks(data, [1, 3, 7, 2, 11]))
        sent.append(replies(events))
        delivered.extend(messages(events))
        return events

    assert isinstance(send(ENQ_)[1], TransferStarted)
    assert receiver.state is State.WAITING
    for i, frame in enumerate(frames):
        if i == 3:
            events = send(corrupt(frame))
            rejected = [e for e in events if isinstance(e, FrameRejected)]
            assert isinstance(rejected[0].error, ChecksumMismatch)
            assert rejected[0].error.frame_number == 4 and rejected[0].attempt == 1
            assert sent[-1] == NAK_
        send(frame)
        assert sent[-1] == ACK_
        if i in (5, 9):  # the ACK is lost: the analyzer sends the same frame again
            events = send(b"\r\n" + frame)  # with some line noise before it
            assert sent[-1] == ACK_
            assert FrameRepeated(number=(i + 1) % 8) in events
    events = send(EOT_)
    assert events == [TransferEnded(messages=len(RECORDS))]
    assert sent[-1] == b""
    assert receiver.timeout_seconds is None  # idle again
    assert delivered == [(r + "\r").encode() for r in RECORDS]


def test_each_good_frame_is_acked_at_once() -> None:
    receiver = Receiver()
    assert receiver.feed(ENQ_)[0].data == ACK_  # type: ignore[union-attr]
    frame = build_frame(1, b"L|1|N\r", True)
    assert replies(receiver.feed(frame[:-1])) == b""  # no reply before the frame's last byte
    assert receiver.state is State.TRAILER
    assert replies(receiver.feed(frame[-1:])) == ACK_


def test_bytes_before_enq_are_ignored() -> None:
    receiver = Receiver()
    assert receiver.feed(build_frame(1, b"L|1|N\r", True) + EOT_ + b"noise") == []
    assert receiver.state is State.IDLE
    assert receiver.timeout_seconds is None


def test_a_wrong_frame_number_is_nakked() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_)
    events = receiver.feed(build_frame(3, b"L|1|N\r", True))
    assert replies(events) == NAK_
    error = next(e for e in events if isinstance(e, FrameRejected)).error
    assert isinstance(error, FrameSequenceError)
    assert str(error) == "frame 3: out of sequence, frame 1 expected"
    assert receiver.expected == 1


def test_a_different_frame_under_the_previous_number_is_not_a_repeat() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_ + build_frame(1, b"P|1\r", True))
    events = receiver.feed(build_frame(1, b"P|2\r", True))
    assert replies(events) == NAK_
    assert messages(events) == []


def test_a_malformed_trailer_is_nakked_and_the_retransmission_accepted() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_)
    good = build_frame(1, b"L|1|N\r", True)
    events = receiver.feed(good[:-2] + b"XY")
    assert replies(events) == NAK_
    assert isinstance(next(e for e in events if isinstance(e, FrameRejected)).error, MalformedFrame)
    assert messages(receiver.feed(good)) == [b"L|1|N\r"]


def test_oversize_frames_are_tolerated() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_)
    text = b"R|1|^^^HIST|" + b"7" * 1000 + b"\r"
    assert messages(receiver.feed(build_frame(1, text, True))) == [text]


def test_a_frame_beyond_the_bound_is_refused() -> None:
    receiver = Receiver(max_frame_bytes=100)
    receiver.feed(ENQ_)
    events = receiver.feed(build_frame(1, b"9" * 200, True))
    assert replies(events) == NAK_
    assert messages(events) == []
    assert messages(receiver.feed(build_frame(1, b"9" * 50, True))) == [b"9" * 50]


def test_a_message_beyond_the_bound_is_refused() -> None:
    receiver = Receiver(max_message_bytes=30)
    receiver.feed(ENQ_)
    frames = frames_for("X" * 40, max_text=20)
    assert replies(receiver.feed(frames[0])) == ACK_
    assert replies(receiver.feed(frames[1])) == NAK_


def test_six_refusals_of_one_frame_abandon_the_transfer() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_ + frames_for("P|1", max_text=2)[0])  # an ETB frame kept, pending
    bad = corrupt(build_frame(2, b"|1\r", True))
    for attempt in range(1, MAX_ATTEMPTS):
        events = receiver.feed(bad)
        assert replies(events) == NAK_
        assert next(e for e in events if isinstance(e, FrameRejected)).attempt == attempt
    events = receiver.feed(bad)
    assert replies(events) == NAK_
    discarded = next(e for e in events if isinstance(e, TransferDiscarded))
    assert isinstance(discarded.error, TooManyAttempts)
    assert str(discarded.error) == "frame 2: refused 6 times, transfer abandoned"
    assert discarded.frames == 1
    assert receiver.state is State.IDLE
    # The sender gives up with EOT (ignored while idle), and may start again.
    assert receiver.feed(EOT_) == []
    assert replies(receiver.feed(ENQ_)) == ACK_


def test_a_timeout_discards_the_unfinished_transfer() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_)
    assert receiver.timeout_seconds == RECEIVE_TIMEOUT
    frames = frames_for("R|1|^^^GLU|5.4", max_text=5)
    receiver.feed(frames[0] + frames[1] + frames[2][:4])
    events = receiver.timeout()
    assert len(events) == 1 and isinstance(events[0], TransferDiscarded)
    assert events[0].frames == 3  # two ETB frames kept, one cut short
    assert receiver.state is State.IDLE
    assert receiver.timeout() == []


def test_eot_inside_a_message_discards_it_and_ends_the_transfer() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_ + frames_for("P|1", max_text=2)[0])
    events = receiver.feed(EOT_)
    assert [type(e) for e in events] == [TransferDiscarded, TransferEnded]


def test_a_frame_cut_short_by_a_new_frame_is_dropped_without_reply() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_)
    good = build_frame(1, b"L|1|N\r", True)
    events = receiver.feed(good[:5] + good)
    assert [type(e) for e in events] == [FrameRejected, type(events[1]), MessageReceived]
    assert replies(events) == ACK_
    assert isinstance(events[0], FrameRejected) and not events[0].replied


def test_enq_during_a_transfer_starts_a_new_one() -> None:
    receiver = Receiver()
    receiver.feed(ENQ_ + frames_for("P|1", max_text=2)[0])
    events = receiver.feed(ENQ_)
    assert [type(e) for e in events] == [TransferDiscarded, type(events[1]), TransferStarted]
    assert replies(events) == ACK_
    assert receiver.expected == 1
