"""What the channels seal (the raw messages in, the ORU^R01 queued out, the senders' placer order
numbers) is re-encrypted after a key rotation like any other field, and still opens once the old
key version is retired: each is sealed under its own column's name, the one re-encryption binds."""

from __future__ import annotations

import pytest

from labvault.identity.accounts import context_for
from labvault.platform import Platform
from labvault.security.access import Purpose
from tests.factories import DESK, Bench, cli_ctx
from tests.interop.test_hl7_orders import POTASSIUM, control, oml, person, registered

ORIGIN = "mllp:127.0.0.1"


def oru(control_id: str, barcode: str) -> bytes:
    segments = [
        f"MSH|^~\\&|COBAS|BENCH|LABVAULT|LAB|20261207083000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"OBR|1||{barcode}|2823-3^Potassium^LN",
        "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|||||F",
        f"SPM|1|^{barcode}",
    ]
    return ("\r".join(segments) + "\r").encode()


@pytest.fixture
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des clés tournantes")


def test_channel_seals_are_re_encrypted_after_a_rotation(bench: Bench) -> None:
    platform = bench.platform
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    receiver = bench.interface("receiver")
    platform.outbox.add_receiver(admin, receiver.username, "127.0.0.1", 9)  # nobody listens: it waits
    analyzer = bench.interface("analyzer")
    order = bench.order(tests=["K"])
    ack = platform.hl7_inbox.receive(analyzer.username, oru("ROT0001", order.specimens[0].barcode), ORIGIN)
    assert b"MSA|AA|ROT0001" in ack, ack
    bench.validate(order, ["K"])
    bench.release(order)  # an ORU^R01 sealed in the outbox
    sender = bench.interface("dpi")
    assert platform.order_intake.mark_sender(admin, sender.username)
    who = person()
    registered(bench, who)
    sent = control()
    ack = platform.hl7_inbox.receive(sender.username, oml(sent, who.pid(), POTASSIUM), ORIGIN)
    assert f"MSA|AA|{sent}".encode() in ack, ack  # a placer order number sealed

    assert platform.labs.rotate_keys(cli_ctx(), bench.lab.id) == 2
    report = platform.reencryptor.run(bench.lab.id)
    assert report.values_rewritten >= 3
    assert platform.reencryptor.run(bench.lab.id).values_rewritten == 0
    with platform.db.transaction(None) as session:
        assert platform.keys.retire_versions_below(session, bench.lab.id, 2) == 1
    delivered = platform.outbox.deliver_due()
    assert delivered.retried == 1 and delivered.refused == 0, delivered  # opened, then the port was shut
