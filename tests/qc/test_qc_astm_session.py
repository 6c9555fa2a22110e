"""An ASTM session over the listener (E1381 frames, on both engines) carrying a patient result
and a QC result: the QC lands in its lot's series, committed before the last frame's ACK, and no
patient result is made of it; the message's record counts it."""

from __future__ import annotations

import pytest

from labvault.interop.astm.frames import frames_for_records
from labvault.interop.astm.inbox import AstmInbox
from labvault.platform import Platform
from tests.factories import Bench
from tests.interop.astm.support import ACK, ENQ, Analyzer, records, rows
from tests.interop.astm.test_astm_listener import running


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire CQ ASTM")


def test_a_session_with_qc_lands_it_in_the_series_before_the_last_ack(bench: Bench) -> None:
    platform = bench.platform
    account = bench.interface("sysmex")
    platform.qc.add_lot(bench.biologist, account.username, "K", "CTRL-K-N2", "6.0", "0.2", level=2)
    order = bench.order(tests=["K"])
    patient = records(order.specimens[0].barcode, "R|1|^^^K|4.2|mmol/L||||F", message_id="QC-SESSION-1")
    control = ["O|2|CTRL-K-N2||^^^K|R||||||Q", "R|1|^^^K|6.1|mmol/L||||F"]
    message = [*patient[:-1], *control, patient[-1]]
    frames = frames_for_records(message)
    with running(AstmInbox(platform.intake), account.username) as port, Analyzer(port) as analyzer:
        assert analyzer.send(ENQ) == ACK
        for frame in frames[:-1]:
            assert analyzer.send(frame) == ACK
        assert not platform.qc.series(bench.technician, account.username, "K", "CTRL-K-N2").points
        assert analyzer.send(frames[-1]) == ACK
        [point] = platform.qc.series(bench.technician, account.username, "K", "CTRL-K-N2").points
        analyzer.socket.sendall(b"\x04")
    assert (point.value, point.z, point.status, point.source) == ("6.1", 0.5, "in_control", "astm")
    result = bench.result(order.id, "K")
    assert result is not None and result.value == "4.2"  # the patient's; the control's is not a result
    [row] = [r for r in rows(bench, account.id) if r.control_id == "QC-SESSION-1"]
    assert (row.results, row.ack) == (1, b"accepted 1 results, 1 QC")
