"""An instrument's own test codes, mapped per interface account: used for that interface's
messages only, managed by the lab's biologists and admins only, never across labs."""

from __future__ import annotations

import pytest

from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from tests.factories import DESK, Bench


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des codes")


def admin_of(bench: Bench) -> AccessContext:
    return context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)


def oru(control: str, barcode: str, code: str) -> bytes:
    segments = [
        f"MSH|^~\\&|COBAS|B1|LABVAULT|LAB|20261207||ORU^R01|{control}|P|2.5.1",
        f"OBR|1||{barcode}|x^y^L",
        f"OBX|1|NM|{code}^Potassium ISE^99ROCHE||4.3|mmol/L|||||F",
        f"SPM|1|^{barcode}",
    ]
    return ("\r".join(segments) + "\r").encode()


def test_a_mapped_code_enters_for_its_interface_only(bench: Bench) -> None:
    mapped, other = bench.interface("roche"), bench.interface("roche")
    bench.platform.instrument_codes.set(admin_of(bench), mapped.username, "k-ise", "k")
    assert [
        (m.code, m.test_code) for m in bench.platform.instrument_codes.list(bench.biologist, mapped.username)
    ] == [("K-ISE", "K")]
    order = bench.order(tests=["K"])
    barcode = order.specimens[0].barcode
    refused = bench.platform.hl7_inbox.receive(other.username, oru("C1", barcode, "K-ISE"), "test").decode()
    assert "MSA|AE|C1" in refused and "ERR||OBX^1^3^1^1|103^" in refused
    ack = bench.platform.hl7_inbox.receive(mapped.username, oru("C2", barcode, "K-ISE"), "test").decode()
    assert "MSA|AA|C2" in ack
    result = bench.result(order.id, "K")
    assert result is not None and result.value == "4.3"
    bench.platform.instrument_codes.remove(admin_of(bench), mapped.username, "K-ISE")
    assert bench.platform.instrument_codes.list(admin_of(bench), mapped.username) == []


def test_mappings_are_managed_by_the_lab_within_the_lab(bench: Bench, platform: Platform) -> None:
    analyzer = bench.interface("roche")
    with pytest.raises(InvalidInput, match="test_code"):
        bench.platform.instrument_codes.set(admin_of(bench), analyzer.username, "X1", "NOSUCHTEST")
    with pytest.raises(Forbidden):
        bench.platform.instrument_codes.set(bench.technician, analyzer.username, "X1", "GLU")
    other = Bench.create(platform, "Autre laboratoire")
    with pytest.raises(NotFound):
        other.platform.instrument_codes.set(other.biologist, analyzer.username, "X1", "GLU")
    with pytest.raises(NotFound):  # a person's account is no interface
        bench.platform.instrument_codes.set(
            admin_of(bench), bench.staff[Role.TECHNICIAN].username, "X1", "GLU"
        )
