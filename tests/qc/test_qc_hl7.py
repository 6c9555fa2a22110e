"""HL7 v2 ORU^R01 QC on both engines: an SPM whose specimen role (SPM-11) is ``Q`` (HL7 table
0369, control specimen), or whose specimen id is a declared control lot, carries QC results: they
land in the lot's series, acknowledged AA with the message's record, and no patient result is
entered; a QC observation of no declared lot for its test is not stored."""

from __future__ import annotations

import uuid

import pytest

from labvault.platform import Platform
from tests.factories import Bench

ORIGIN = "mllp:127.0.0.1"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire CQ HL7")


def oru(control_id: str, specimen: str, *obx: str, role: str = "") -> bytes:
    segments = [
        f"MSH|^~\\&|COBAS|BENCH1|LABVAULT|LAB|20261207083000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        "PID|1||",
        f"OBR|1||{specimen}|24323-8^Metabolic panel^LN",
        *obx,
        f"SPM|1|^{specimen}||119297000^Blood^SCT|||||||{role}",
    ]
    return "\r".join(segments).encode() + b"\r"


def test_qc_by_specimen_role_or_lot_id_lands_in_the_series(bench: Bench) -> None:
    platform = bench.platform
    analyzer = bench.interface("cobas-hl7")
    platform.qc.add_lot(bench.biologist, analyzer.username, "K", "HL7-LOT-1", "4.0", "0.1")
    potassium = "OBX|1|NM|2823-3^Potassium^LN||{}|mmol/L|||||F"
    control = f"Q{uuid.uuid4().hex[:10]}"
    ack = platform.hl7_inbox.receive(
        analyzer.username, oru(control, "HL7-LOT-1", potassium.format("4.1"), role="Q"), ORIGIN
    )
    assert f"MSA|AA|{control}" in ack.decode()
    by_lot_id = f"Q{uuid.uuid4().hex[:10]}"
    ack = platform.hl7_inbox.receive(
        analyzer.username, oru(by_lot_id, "hl7-lot-1", potassium.format("4.35")), ORIGIN
    )
    assert f"MSA|AA|{by_lot_id}" in ack.decode()
    series = platform.qc.series(bench.technician, analyzer.username, "K", "HL7-LOT-1")
    assert [(p.value, p.status, p.source, p.rules) for p in series.points] == [
        ("4.1", "in_control", "hl7v2", ()),
        ("4.35", "rejected", "hl7v2", ("1-2s", "1-3s")),
    ]
    # A control (SPM-11 Q) of no declared lot: acknowledged, not stored, nothing entered; the same
    # without the role is a patient result of an unknown tube.
    sodium = "OBX|1|NM|2951-2^Sodium^LN||139|mmol/L|||||F"
    for role, code in (("Q", "AA"), ("", "AE")):
        other = f"Q{uuid.uuid4().hex[:10]}"
        ack = platform.hl7_inbox.receive(
            analyzer.username, oru(other, "CTRL-UNDECLARED", sodium, role=role), ORIGIN
        )
        assert f"MSA|{code}|{other}" in ack.decode()
    assert len(platform.qc.series(bench.technician, analyzer.username, "K", "HL7-LOT-1").points) == 2


def test_a_qc_value_that_is_not_a_number_is_refused_on_obx_5(bench: Bench) -> None:
    platform = bench.platform
    analyzer = bench.interface("cobas-hl7")
    platform.qc.add_lot(bench.biologist, analyzer.username, "K", "HL7-LOT-2", "4.0", "0.1")
    control = f"Q{uuid.uuid4().hex[:10]}"
    message = oru(control, "HL7-LOT-2", "OBX|1|ST|2823-3^Potassium^LN||high|mmol/L|||||F", role="Q")
    ack = platform.hl7_inbox.receive(analyzer.username, message, ORIGIN).decode()
    assert f"MSA|AE|{control}" in ack and "OBX^1^5" in ack and "high" not in ack
