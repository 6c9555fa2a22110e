"""Tubes: reception by barcode scan, rejection with a reason and a replacement tube, labels."""

from __future__ import annotations

import datetime as dt

import pytest

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.workflow.models import Specimen
from tests.db_inspect import audit_events, raw_rows
from tests.factories import Bench


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform)


def test_receive_by_barcode(bench: Bench) -> None:
    order = bench.order(panels=["NFS"], tests=["K"], receive=False)
    edta = next(s for s in order.specimens if s.tube.startswith("EDTA"))
    received = bench.platform.specimens.receive(bench.reception, f"  {edta.barcode} \n")
    assert received.id == edta.id and received.status == "received"
    assert received.received_at is not None and received.collected_at is not None
    assert bench.platform.specimens.get(bench.technician, edta.barcode).status == "received"
    statuses = {s.id: s.status for s in bench.get(order.id).specimens}
    assert sorted(statuses.values()) == ["awaited", "received"], "only the scanned tube is received"
    with pytest.raises(Conflict):
        bench.platform.specimens.receive(bench.reception, edta.barcode)
    events = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "specimen.receive")
        if e.object_id == str(edta.id)
    ]
    assert len(events) == 1 and events[0].detail["order"] == str(order.id)
    (row,) = raw_rows(bench.platform, Specimen, id=edta.id)
    assert edta.barcode.encode() not in row.barcode_enc


def test_collect_then_receive_keeps_the_collection_time(bench: Bench) -> None:
    order = bench.order(tests=["GLU"], receive=False)
    (tube,) = order.specimens
    drawn = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
    assert bench.platform.specimens.collect(bench.reception, tube.barcode, drawn).status == "collected"
    received = bench.platform.specimens.receive(bench.reception, tube.barcode)
    assert received.collected_at == drawn and received.received_at is not None
    assert received.received_at > drawn
    with pytest.raises(InvalidInput) as caught:
        bench.platform.specimens.collect(bench.reception, tube.barcode, dt.datetime(2026, 1, 1, 8, 0))
    assert caught.value.field == "collected_at"


def test_unknown_or_malformed_barcode(bench: Bench) -> None:
    with pytest.raises(NotFound):
        bench.platform.specimens.receive(bench.reception, "0000000000")
    for bad in ("", "   ", "1" * 33, "12\x0034"):
        with pytest.raises(InvalidInput) as caught:
            bench.platform.specimens.receive(bench.reception, bad)
        assert caught.value.field == "barcode"


def test_reject_with_reason_moves_items_to_a_replacement(bench: Bench) -> None:
    order = bench.order(panels=["NFS"], tests=["K", "NA"], receive=False)
    heparin = next(s for s in order.specimens if s.tube.startswith("heparin"))
    with pytest.raises(InvalidInput) as caught:
        bench.platform.specimens.reject(bench.reception, heparin.barcode, "dropped on the floor")
    assert caught.value.field == "reason"
    assert bench.platform.specimens.get(bench.reception, heparin.barcode).status == "awaited"

    rejected = bench.reject(heparin.barcode, "haemolysed", "  tube  très hémolysé ")
    assert rejected.status == "rejected" and rejected.rejection_reason == "haemolysed"
    assert rejected.rejection_comment == "tube très hémolysé"

    after = bench.get(order.id)
    assert len(after.specimens) == 3
    replacement = next(s for s in after.specimens if s.tube == heparin.tube and s.id != heparin.id)
    assert replacement.status == "awaited" and replacement.barcode != heparin.barcode
    for code in ("K", "NA"):
        item = bench.item(after, code)
        assert item.specimen_id == replacement.id and item.status == "pending"
    assert bench.item(after, "HGB").specimen_id != replacement.id

    with pytest.raises(Conflict):
        bench.platform.specimens.receive(bench.reception, heparin.barcode)
    with pytest.raises(Conflict):
        bench.platform.specimens.reject(bench.reception, heparin.barcode, "clotted")
    assert bench.platform.specimens.receive(bench.reception, replacement.barcode).status == "received"
    # The tests now move to the entry worklist with the replacement tube.
    labels = bench.platform.orders.labels(bench.reception, order.id)
    assert {label.barcode for label in labels} == {s.barcode for s in after.specimens} - {heparin.barcode}
    lines = bench.platform.results.worklist(bench.technician, "biochemistry")
    assert {bench.item_id(after, "K"), bench.item_id(after, "NA")} <= {line.item_id for line in lines}
    events = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "specimen.reject")
        if e.object_id == str(heparin.id)
    ]
    assert len(events) == 1 and events[0].detail == {
        "order": str(order.id),
        "reason": "haemolysed",
        "replacement": str(replacement.id),
    }


def test_tube_with_entered_results_cannot_be_rejected(bench: Bench) -> None:
    order = bench.order(tests=["K"])
    bench.enter(order, {"K": "4.2"})
    with pytest.raises(Conflict):
        bench.platform.specimens.reject(bench.reception, order.specimens[0].barcode, "haemolysed")


def test_labels_show_initials_unless_full_name_asked(bench: Bench) -> None:
    patient = bench.patient(birth_name="Lefèvre", first_names="Éloïse Marie", used_name=None)
    order = bench.order(patient, panels=["NFS"], tests=["GLU"], receive=False)
    labels = bench.platform.orders.labels(bench.reception, order.id)
    assert {label.barcode for label in labels} == {s.barcode for s in order.specimens}
    for label in labels:
        assert label.patient_line == "L.É. 01/05/1970"
        assert label.accession == order.accession
        assert "Lefèvre".upper() not in label.patient_line and "Éloïse" not in label.patient_line
    full = bench.platform.orders.labels(bench.reception, order.id, full_name=True)
    assert {label.patient_line for label in full} == {"LEFÈVRE Éloïse Marie 01/05/1970"}
    events = [
        e for e in audit_events(bench.platform, bench.lab.id, "order.labels") if e.object_id == str(order.id)
    ]
    assert [e.detail["full_name"] for e in events] == [False, True]


def test_labels_need_the_specimen_right(bench: Bench, platform: Platform) -> None:
    order = bench.order(tests=["GLU"], receive=False)
    admin = bench.factory.ctx(bench.lab, Role.LAB_ADMIN)
    with pytest.raises(Forbidden):
        platform.orders.labels(admin, order.id)


def test_barcode_of_another_lab_is_not_found(bench: Bench, other: Bench) -> None:
    order = bench.order(tests=["GLU"], receive=False)
    (tube,) = order.specimens
    with pytest.raises(NotFound):
        bench.platform.specimens.get(other.reception, tube.barcode)
    with pytest.raises(NotFound):
        bench.platform.specimens.receive(other.reception, tube.barcode)
    with pytest.raises(NotFound):
        bench.platform.specimens.reject(other.reception, tube.barcode, "haemolysed")
    assert bench.platform.specimens.get(bench.reception, tube.barcode).status == "awaited"
