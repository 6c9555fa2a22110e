"""E1381 frames: the checksum vector, building and reading, splitting a long record, numbering."""

from __future__ import annotations

import pytest

from labvault.interop.astm.errors import ChecksumMismatch, FramingError, MalformedFrame
from labvault.interop.astm.frames import (
    CR,
    ETB,
    ETX,
    LF,
    STX,
    Frame,
    build_frame,
    checksum,
    frames_for,
    frames_for_records,
    parse_frame,
)


def test_the_checksum_vector() -> None:
    # <STX>1A|B|C|D<CR><ETX> has checksum BF (../shared/testdata/SOURCES.md).
    assert checksum(b"1A|B|C|D\r\x03") == b"BF"
    assert build_frame(1, b"A|B|C|D\r", final=True) == b"\x021A|B|C|D\r\x03BF\r\n"


def test_checksum_is_two_upper_case_digits_modulo_256() -> None:
    assert checksum(b"") == b"00"
    assert checksum(b"\x0a") == b"0A"
    assert checksum(bytes([0xFF, 0x01])) == b"00"


def test_build_and_parse_round_trip() -> None:
    for number, final in ((1, True), (5, False), (0, True)):
        raw = build_frame(number, b"R|1|^^^GLU|5.4|mmol/L\r", final)
        assert parse_frame(raw) == Frame(number, b"R|1|^^^GLU|5.4|mmol/L\r", final)


def test_lower_case_checksum_digits_are_accepted() -> None:
    raw = build_frame(1, b"A|B|C|D\r", True)
    assert parse_frame(b"\x021A|B|C|D\r\x03bf\r\n") == parse_frame(raw)


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (b"\x021\x03\r\n", MalformedFrame, "too short"),
        (b"1A|B|C|D\r\x03BF\r\n", MalformedFrame, "STX"),
        (b"\x028A|B|C|D\r\x03BF\r\n", MalformedFrame, "frame number"),
        (b"\x021A|B|C|D\r\x04BF\r\n", MalformedFrame, "no ETX or ETB"),
        (b"\x021A|B|C|D\r\x03BF\n\r", MalformedFrame, "CR LF"),
        (b"\x021A|B|C|D\r\x03GZ\r\n", MalformedFrame, "hex"),
        (b"\x021A|B|C|D\r\x03BE\r\n", ChecksumMismatch, "does not match"),
    ],
)
def test_bad_frames_are_refused_naming_the_frame_not_the_text(
    raw: bytes, error: type[FramingError], reason: str
) -> None:
    with pytest.raises(error, match=reason) as caught:
        parse_frame(raw, expected=1)
    assert str(caught.value).startswith("frame")
    assert "A|B" not in str(caught.value)


def test_a_short_record_is_one_etx_frame_and_gets_its_cr() -> None:
    assert frames_for("L|1|N") == [build_frame(1, b"L|1|N\r", True)]
    assert frames_for("L|1|N\r") == frames_for("L|1|N")


def test_a_long_record_is_split_into_etb_frames_then_one_etx() -> None:
    text = "R|1|^^^TSH|" + "9" * 600
    frames = frames_for(text, max_text=240)
    parsed = [parse_frame(f) for f in frames]
    assert [f.number for f in parsed] == [1, 2, 3]
    assert [f.final for f in parsed] == [False, False, True]
    assert [f[-5] for f in frames] == [ETB, ETB, ETX]
    assert all(len(f.text) <= 240 for f in parsed)
    assert all(len(f) <= 247 for f in frames)
    assert b"".join(f.text for f in parsed) == (text + "\r").encode()


def test_frame_numbers_wrap_from_7_to_0() -> None:
    frames = frames_for("X" * 20, max_text=2)
    numbers = [parse_frame(f).number for f in frames]
    assert numbers[:10] == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    assert build_frame(8, b"x", True)[1:2] == b"0"


def test_records_of_one_transfer_number_on_across_records() -> None:
    frames = frames_for_records(["H|\\^&", "P|1", "L|1|N"], max_text=3)
    numbers = [parse_frame(f).number for f in frames]
    assert numbers == [n % 8 for n in range(1, len(frames) + 1)]
    assert [f[0] for f in frames] == [STX] * len(frames)
    assert all(f.endswith(bytes([CR, LF])) for f in frames)


def test_max_text_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_text"):
        frames_for("L|1", max_text=0)
