"""Orders: items from panels and single tests, NABM billing, tubes, validation, isolation, audit."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from labvault.catalog import default_catalog
from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.workflow.models import Order, OrderItem, Specimen
from labvault.workflow.order_data import OrderRequest
from tests.db_inspect import audit_events, raw_rows, row_count
from tests.factories import Bench


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform)


def test_items_come_from_panels_and_single_tests_each_once(bench: Bench) -> None:
    catalog = default_catalog()
    order = bench.order(panels=["NFS", "EAL"], tests=["GLU", "HGB", "PLT", "CRP"], receive=False)
    codes = [i.test_code for i in order.items]
    expected = [*catalog.panel("NFS").tests, *catalog.panel("EAL").tests, "GLU", "CRP"]
    assert codes == expected, "panels first, in catalogue order, then single tests not already ordered"
    assert len(codes) == len(set(codes))
    hgb, plt, glu = (bench.item(order, code) for code in ("HGB", "PLT", "GLU"))
    # HGB and PLT were asked for alone too: ordered once, as part of the panel, not billed on their own.
    assert (hgb.panel_code, hgb.nabm, hgb.nabm_b) == ("NFS", None, None)
    assert (plt.panel_code, plt.nabm, plt.nabm_b) == ("NFS", None, None)
    assert (glu.panel_code, glu.nabm, glu.nabm_b) == (None, "0552", 5)
    assert bench.item(order, "LDLC").calculated and not glu.calculated
    assert all(i.status == "pending" and i.result is None for i in order.items)


def test_billing_counts_each_panel_act_once_and_single_tests(bench: Bench) -> None:
    order = bench.order(panels=["NFS", "BHEP"], tests=["GLU", "CRP", "HCT"], receive=False)
    acts = [(act.nabm, act.b) for act in order.billing]
    # NFS is one act (1104, B26) although it holds 13 tests, two of which (HCT, PLT) have their own
    # NABM code; BHEP bills its four acts; GLU and CRP are billed on their own; HCT is in NFS.
    assert acts == [
        ("1104", 26),
        ("0522", 10),
        ("0519", 6),
        ("0514", 6),
        ("1601", 8),
        ("0552", 5),
        ("1804", 9),
    ]
    assert order.total_b == 26 + 10 + 6 + 6 + 8 + 5 + 9
    again = bench.get(order.id, bench.reception)
    assert again.billing == order.billing and again.total_b == order.total_b


def test_one_specimen_per_tube_type(bench: Bench) -> None:
    order = bench.order(panels=["NFS", "COAG"], tests=["GLU", "K", "CRP", "CHOL", "TSH"], receive=False)
    tubes = sorted(s.tube for s in order.specimens)
    assert tubes == sorted(
        {
            "EDTA (lavender)",
            "citrate (light blue)",
            "fluoride oxalate (grey)",
            "heparin (green)",
            "SST (gold)",
        }
    )
    assert all(s.status == "awaited" and s.received_at is None for s in order.specimens)
    by_id = {s.id: s for s in order.specimens}
    for item in order.items:
        assert by_id[item.specimen_id].tube == item.tube, item.test_code  # type: ignore[index]
    barcodes = [s.barcode for s in order.specimens]
    assert len(set(barcodes)) == len(barcodes) and all(b.isdigit() and len(b) == 10 for b in barcodes)
    assert row_count(bench.platform, Specimen, order_id=order.id) == 5


def test_unknown_codes_refused_naming_the_position(bench: Bench) -> None:
    patient = bench.patient()
    before = row_count(bench.platform, Order, lab_id=bench.lab.id)
    cases: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
        (("GLU", "NOPE"), (), "tests[1]"),
        (("nfs",), (), "tests[0]"),
        (("GLU",), ("NFS", "XYZ"), "panels[1]"),
        (("GLU",), ("HGB",), "panels[0]"),  # a test code is not a panel
        ((), (), "tests"),
    ]
    for tests, panels, field in cases:
        with pytest.raises(InvalidInput) as caught:
            bench.platform.orders.create(bench.reception, OrderRequest(patient, tests, panels))
        assert caught.value.field == field
    assert row_count(bench.platform, Order, lab_id=bench.lab.id) == before


def test_unknown_patient_refused(bench: Bench) -> None:
    with pytest.raises(NotFound):
        bench.platform.orders.create(bench.reception, OrderRequest(uuid.uuid4(), ("GLU",)))


def test_patient_of_another_lab_is_not_found_and_nothing_written(bench: Bench, other: Bench) -> None:
    theirs = other.patient()
    tables = (Order, OrderItem, Specimen)
    before = {model: row_count(bench.platform, model, lab_id=bench.lab.id) for model in tables}
    before_other = {model: row_count(bench.platform, model, lab_id=other.lab.id) for model in tables}
    with pytest.raises(NotFound):
        bench.platform.orders.create(bench.reception, OrderRequest(theirs, ("GLU", "K"), ("NFS",)))
    assert {model: row_count(bench.platform, model, lab_id=bench.lab.id) for model in tables} == before
    assert {model: row_count(bench.platform, model, lab_id=other.lab.id) for model in tables} == before_other
    created = audit_events(bench.platform, bench.lab.id, "order.create")
    assert all(e.detail.get("patient") != str(theirs) for e in created)


def test_prescriber_of_another_lab_is_not_found(bench: Bench, other: Bench) -> None:
    doctor, _ = other.physician()
    with pytest.raises(NotFound):
        bench.platform.orders.create(
            bench.reception, OrderRequest(bench.patient(), ("GLU",), prescriber_id=doctor)
        )


def test_accession_numbers_unique_and_increasing_within_a_day(bench: Bench) -> None:
    patient = bench.patient()
    made = [bench.order(patient, tests=["GLU"], receive=False) for _ in range(4)]
    accessions = [o.accession for o in made]
    today = dt.datetime.now(dt.UTC).strftime("%y%m%d")
    assert all(a.startswith(today) and a[len(today) :].isdigit() for a in accessions), accessions
    assert accessions == sorted(accessions) and len(set(accessions)) == 4
    numbers = [int(a[len(today) :]) for a in accessions]
    assert numbers == list(range(numbers[0], numbers[0] + 4)), "consecutive within a lab and a day"
    rows = raw_rows(bench.platform, Order, lab_id=bench.lab.id)
    assert len({r.accession for r in rows}) == len(rows)


def test_accession_numbers_are_per_lab(bench: Bench) -> None:
    factory = bench.factory
    firsts = []
    for _ in range(2):
        lab = factory.lab()
        ctx = factory.ctx(lab, Role.RECEPTION)
        patient = factory.platform.patients.register(ctx, factory.patient_data(), accept_homonym=True)
        firsts.append(factory.platform.orders.create(ctx, OrderRequest(patient.id, ("GLU",))).accession)
    assert firsts[0] == firsts[1] and firsts[0].endswith("0001"), "each lab numbers its own orders"


def test_clinical_information_round_trips_encrypted(bench: Bench) -> None:
    doctor, _ = bench.physician()
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    order = bench.order(
        tests=["GLU", "CRP"],
        receive=False,
        prescriber_id=doctor,
        prescribed_on=yesterday,
        clinical_info="  Fièvre   depuis 3 jours,\n grossesse  ",
        drugs=(" Kardégic 75 mg ", "Previscan  20 mg"),
        fasting=True,
        urgent=True,
    )
    for seen in (order, bench.get(order.id, bench.reception), bench.get(order.id, bench.technician)):
        assert seen.clinical_info == "Fièvre depuis 3 jours, grossesse"
        assert seen.drugs == ("Kardégic 75 mg", "Previscan 20 mg")
        assert seen.fasting is True and seen.urgent is True
        assert seen.prescribed_on == yesterday and seen.prescriber_id == doctor
    plain = bench.order(tests=["GLU"], receive=False)
    assert (plain.clinical_info, plain.drugs, plain.fasting, plain.prescribed_on) == (None, (), None, None)
    fasting_false = bench.order(tests=["GLU"], receive=False, fasting=False)
    assert bench.get(fasting_false.id).fasting is False
    (row,) = raw_rows(bench.platform, Order, id=order.id)
    for column in ("clinical_info_enc", "drugs_enc", "fasting_enc", "prescribed_on_enc"):
        assert row._mapping[column], column
    assert b"grossesse" not in row.clinical_info_enc and "Kardégic".encode() not in row.drugs_enc
    assert yesterday.isoformat().encode() not in row.prescribed_on_enc


def test_prescription_in_the_future_refused(bench: Bench) -> None:
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    with pytest.raises(InvalidInput) as caught:
        bench.order(tests=["GLU"], receive=False, prescribed_on=tomorrow)
    assert caught.value.field == "prescribed_on"
    with pytest.raises(InvalidInput) as caught:
        bench.order(tests=["GLU"], receive=False, drugs=("Doliprane", "   "))
    assert caught.value.field == "drugs[1]"


def test_technician_cannot_create_an_order(bench: Bench) -> None:
    patient = bench.patient()
    before = row_count(bench.platform, Order, lab_id=bench.lab.id)
    with pytest.raises(Forbidden):
        bench.platform.orders.create(bench.technician, OrderRequest(patient, ("GLU",)))
    assert row_count(bench.platform, Order, lab_id=bench.lab.id) == before
    created = bench.platform.orders.create(bench.biologist, OrderRequest(patient, ("GLU",)))
    assert created.patient_id == patient


def test_order_create_is_audited_with_ids_only(bench: Bench) -> None:
    order = bench.order(panels=["NFS"], tests=["GLU"], receive=False, clinical_info="secret clinique")
    events = [
        e for e in audit_events(bench.platform, bench.lab.id, "order.create") if e.object_id == str(order.id)
    ]
    assert len(events) == 1
    (event,) = events
    assert event.actor_id == bench.reception.actor_id and event.object_type == "order"
    assert event.detail == {"items": 14, "specimens": 2, "patient": str(order.patient_id)}
    assert "secret" not in str(event.detail)
    bench.get(order.id, bench.reception)
    reads = [
        e for e in audit_events(bench.platform, bench.lab.id, "order.read") if e.object_id == str(order.id)
    ]
    assert len(reads) == 1


def test_orders_for_patient_newest_first(bench: Bench) -> None:
    patient = bench.patient()
    first = bench.order(patient, tests=["GLU"], receive=False)
    second = bench.order(patient, tests=["CRP"], receive=False)
    bench.order(tests=["CRP"], receive=False)  # someone else's
    listed = bench.platform.orders.for_patient(bench.reception, patient)
    assert [o.id for o in listed] == [second.id, first.id]


def test_another_lab_cannot_read_the_order(bench: Bench, other: Bench) -> None:
    order = bench.order(panels=["NFS"], receive=False)
    for ctx in (other.reception, other.technician, other.biologist):
        with pytest.raises(NotFound):
            bench.platform.orders.get(ctx, order.id)
        with pytest.raises(NotFound):
            bench.platform.orders.labels(ctx, order.id)
    with pytest.raises(NotFound):
        bench.platform.orders.for_patient(other.biologist, order.patient_id)


def test_the_prescriber_is_named_by_rpps(bench: Bench, other: Bench) -> None:
    doctor, rpps = bench.physician("Lagarde", "Irène")
    order = bench.order(tests=["GLU"], prescriber_rpps=f" {rpps} ")
    assert order.prescriber_id == doctor
    with pytest.raises(InvalidInput) as refused:
        bench.order(tests=["GLU"], prescriber_rpps=rpps, prescriber_id=doctor)
    assert refused.value.field == "prescriber_rpps"
    _, elsewhere = other.physician("Ailleurs", "Paul")  # another lab's prescriber is unknown here
    before = row_count(bench.platform, Order, lab_id=bench.lab.id)
    with pytest.raises(InvalidInput, match="no physician with this RPPS"):
        bench.order(tests=["GLU"], prescriber_rpps=elsewhere)
    assert row_count(bench.platform, Order, lab_id=bench.lab.id) == before
