"""A captured session replayed: the messages a listener would have accepted, and what it refused."""

from __future__ import annotations

from labvault.interop.astm.frames import build_frame, frames_for_records
from labvault.interop.astm.session import read_session

ENQ, EOT = b"\x05", b"\x04"
FIRST = ["H|\\^&|||SYNTH-ANALYZER", "P|1||PID-TEST-0001", "O|1|SPEC-0001||^^^GLU", "R|1|^^^GLU|5.4", "L|1|N"]
SECOND = ["H|\\^&|||SYNTH-ANALYZER", "P|1||PID-TEST-0002", "O|1|SPEC-0002||^^^K", "R|1|^^^K|4.1", "L|1|N"]


def test_a_capture_with_noise_a_bad_frame_and_two_transfers() -> None:
    frames = frames_for_records(FIRST, max_text=10)
    bad = frames[2][:3] + b"#" + frames[2][4:]  # corrupted on the line, then sent again
    capture = (
        b"\r\n"
        + ENQ
        + b"".join(f + b"\r\n" for f in frames[:2])
        + bad
        + b"".join(frames[2:])
        + EOT
        + b"\n"
        + ENQ
        + b"".join(frames_for_records(SECOND))
        + EOT
    )
    report = read_session(capture)
    assert [m.patients[0].orders[0].order.specimen_id for m in report.messages] == ["SPEC-0001", "SPEC-0002"]
    assert report.frames_rejected == 1
    assert report.problems == ("frame 3: checksum does not match the frame's bytes",)


def test_all_records_in_one_frame_sequence() -> None:
    """Some analyzers send a whole message as one E1381 message: records split on CR alike."""
    report = read_session(ENQ + b"".join(frames_for_records(["\r".join(FIRST)])) + EOT)
    assert len(report.messages) == 1 and report.problems == ()


def test_unfinished_and_refused_messages_are_reported_without_their_data() -> None:
    truncated = frames_for_records(FIRST[:3])
    bad_date = frames_for_records(["H|\\^&", "P|1||||||19701340", "L|1"])
    cut_off = ENQ + build_frame(1, b"H|", False)
    capture = ENQ + b"".join(truncated) + EOT + ENQ + b"".join(bad_date) + EOT + cut_off
    report = read_session(capture)
    assert report.messages == ()
    assert report.problems == (
        "message 1: no terminator (L), 3 records dropped",
        "message 2: record 2 (P) field 8: not a valid calendar date",
        "capture ends before EOT",
    )
    assert not any("PID" in p or "1970" in p for p in report.problems)
