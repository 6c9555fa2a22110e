"""Result entry: parsing, rounding, ranges by sex and age, flags, delta checks, calculated tests,
all-or-nothing batches, versions, worklists and isolation between labs."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from labvault.catalog.calculations import ckd_epi_2021
from labvault.catalog.model import DAYS_PER_YEAR
from labvault.catalog.ranges import age_in_days
from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.platform import Platform
from labvault.workflow.models import OrderItem, Result
from labvault.workflow.result_entry import ResultEntry
from tests.db_inspect import audit_events, row_count
from tests.factories import ADULT_BIRTH, Bench


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform)


def results_in(bench: Bench) -> int:
    return row_count(bench.platform, Result, lab_id=bench.lab.id)


# --- values, ranges and flags -----------------------------------------------------------------------


def test_numbers_with_a_comma_are_parsed_and_rounded(bench: Bench) -> None:
    order = bench.order(tests=["HGB", "GLU", "CREA", "K"])
    entered = bench.enter(
        order,
        {"HGB": " 13,46 ", "GLU": "5", "CREA": "80.4", "K": "4,04"},
        comments={"GLU": "  prélèvement   non à jeun "},
    )
    assert [r.value for r in entered] == ["13.5", "5.00", "80", "4.0"]
    assert [r.version for r in entered] == [1, 1, 1, 1]
    summary = bench.result(order.id, "GLU")
    assert summary is not None
    assert (summary.value, summary.unit, summary.comment) == ("5.00", "mmol/L", "prélèvement non à jeun")
    assert summary.status == "entered" and bench.item(bench.get(order.id), "GLU").status == "entered"


def test_values_that_are_not_numbers_are_refused(bench: Bench) -> None:
    order = bench.order(tests=["HGB"])
    before = results_in(bench)
    for raw in ("abc", "", "12..5", "nan", "inf", "1e400", "13,4,5"):
        with pytest.raises(InvalidInput) as caught:
            bench.enter(order, {"HGB": raw})
        assert caught.value.field == "entries[0].value", raw
        assert raw not in caught.value.reason or not raw, "the value is never echoed"
    assert results_in(bench) == before
    assert bench.item(bench.get(order.id), "HGB").status == "pending"


def test_reference_range_depends_on_sex(bench: Bench) -> None:
    man = bench.order(bench.patient(sex="M"), tests=["HGB", "CREA"])
    woman = bench.order(bench.patient(sex="F"), tests=["HGB", "CREA"])
    hgb_m, crea_m = bench.enter(man, {"HGB": "12.5", "CREA": "95"})
    hgb_f, crea_f = bench.enter(woman, {"HGB": "12.5", "CREA": "95"})
    assert (hgb_m.flag, hgb_m.reference) == ("L", (13.0, 17.5))
    assert (hgb_f.flag, hgb_f.reference) == ("N", (12.0, 16.0))
    assert (crea_m.flag, crea_m.reference) == ("N", (59.0, 104.0))
    assert (crea_f.flag, crea_f.reference) == ("H", (45.0, 84.0))


def test_a_child_gets_no_adult_range(bench: Bench) -> None:
    child = bench.order(bench.child(sex="M", years=8), tests=["HGB", "CREA", "K"])
    hgb, crea, k = bench.enter(child, {"HGB": "12.5", "CREA": "150", "K": "4.0"})
    assert (hgb.flag, hgb.reference) == ("N", (11.5, 15.5)), "the 6-12 year band, not the adult male one"
    assert crea.reference is None and crea.flag == "N", "creatinine has adult ranges only"
    assert k.reference is None
    # Critical limits still apply to a child without a range.
    order = bench.order(bench.child(years=5), tests=["K"])
    (critical,) = bench.enter(order, {"K": "7.1"})
    assert (critical.flag, critical.reference) == ("HH", None)


def test_flags_low_high_and_critical(bench: Bench) -> None:
    order = bench.order(tests=["HGB", "K", "PLT", "NA", "GLU", "INR"])
    entered = bench.enter(
        order, {"HGB": "11.0", "K": "5.5", "PLT": "15", "NA": "165", "GLU": "6.1", "INR": "0.79"}
    )
    assert [(r.value, r.flag) for r in entered] == [
        ("11.0", "L"),
        ("5.5", "H"),
        ("15", "LL"),
        ("165", "HH"),
        ("6.10", "N"),  # limits are inclusive on the normal side
        ("0.79", "L"),
    ]
    assert all(not r.critical_called for r in entered)


def test_coded_results_and_abnormal_code(bench: Bench) -> None:
    order = bench.order(tests=["RAI", "ABO", "RHD", "TOXOG"])
    rai, abo, rhd, toxo = bench.enter(
        order, {"RAI": "Positive", "ABO": " o ", "RHD": "negative", "TOXOG": "equivocal"}
    )
    assert (rai.value, rai.flag) == ("positive", "A")
    assert (abo.value, abo.flag) == ("O", "N")
    assert (rhd.value, rhd.flag) == ("negative", "N")
    assert (toxo.value, toxo.flag) == ("equivocal", "A")
    assert rai.reference is None and rai.unit is None
    with pytest.raises(InvalidInput) as caught:
        bench.enter(order, {"ABO": "A+"})
    assert caught.value.field == "entries[0].value"


# --- delta checks ---------------------------------------------------------------------------------


def test_delta_check_against_the_previous_validated_result(bench: Bench) -> None:
    patient = bench.patient()
    first = bench.order(patient, tests=["HGB", "K"])
    bench.enter(first, {"HGB": "14.0", "K": "4.0"})
    bench.validate(first, ["HGB", "K"])

    second = bench.order(patient, tests=["HGB", "K"])
    hgb, k = bench.enter(second, {"HGB": "10,5", "K": "4.5"})
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert hgb.previous is not None and hgb.previous["value"] == "14.0" and hgb.previous["date"] == today
    assert hgb.previous["result_id"] == str(bench.result(first.id, "HGB").id)  # type: ignore[union-attr]
    assert hgb.delta == {"change": -3.5, "percent": 25.0, "days": 0}, "HGB rule: 2.0 g/dL within 3 days"
    assert k.previous is not None and k.previous["value"] == "4.0"
    assert k.delta is None, "a change of 0.5 mmol/L is within the potassium rule (1.0)"
    stored = bench.result(second.id, "HGB")
    assert stored is not None and stored.delta == hgb.delta and stored.previous == hgb.previous

    # A result not yet biologically validated is not a previous result.
    third = bench.order(patient, tests=["HGB"])
    (again,) = bench.enter(third, {"HGB": "10.4"})
    assert again.previous is not None and again.previous["value"] == "14.0"
    assert again.delta is not None and again.delta["change"] == pytest.approx(-3.6)


def test_no_previous_result_from_another_patient_or_a_test_without_rule(bench: Bench) -> None:
    first = bench.order(tests=["HGB", "CRP"])
    bench.enter(first, {"HGB": "15.0", "CRP": "2.0"})
    bench.validate(first, ["HGB", "CRP"])
    stranger = bench.order(tests=["HGB"])
    (hgb,) = bench.enter(stranger, {"HGB": "9.0"})
    assert hgb.previous is None and hgb.delta is None
    later = bench.order(first.patient_id, tests=["CRP"])
    (crp,) = bench.enter(later, {"CRP": "150.0"})
    assert crp.previous is not None and crp.previous["value"] == "2.0"
    assert crp.delta is None, "CRP has no delta rule in the catalogue"


# --- calculated tests -------------------------------------------------------------------------------


def test_egfr_is_calculated_from_creatinine_for_an_adult(bench: Bench) -> None:
    order = bench.order(bench.patient(sex="F"), panels=["RENAL"])
    entered = bench.enter(order, {"CREA": "80", "UREA": "5.0"})
    age_years = age_in_days(ADULT_BIRTH, dt.datetime.now(dt.UTC).date()) / DAYS_PER_YEAR
    expected = round(ckd_epi_2021(80, age_years, "F"))
    assert 55 < expected < 95
    assert [r.value for r in entered] == ["80", "5.0", str(expected)], "CREA, UREA, then the calculated eGFR"
    egfr = bench.item(bench.get(order.id), "EGFR")
    assert egfr.calculated and egfr.status == "entered" and egfr.result is not None
    assert egfr.result.value == str(expected) and egfr.result.unit == "mL/min/{1.73_m2}"
    assert egfr.result.reference == (60.0, None)
    with pytest.raises(InvalidInput) as caught:
        bench.enter(order, {"EGFR": "90"})
    assert caught.value.field == "entries[0].item_id", "a calculated test is never typed in"

    # Correcting the creatinine recalculates the eGFR as a new version.
    (crea, egfr_v2) = bench.enter(order, {"CREA": "160"})
    assert crea.version == 2 and egfr_v2.version == 2
    assert egfr_v2.value == str(round(ckd_epi_2021(160, age_years, "F"))) and egfr_v2.flag == "L"


def test_egfr_is_not_calculated_for_a_child(bench: Bench) -> None:
    order = bench.order(bench.child(sex="F", years=10), panels=["RENAL"])
    entered = bench.enter(order, {"CREA": "40"})
    assert [r.value for r in entered] == ["40"]
    egfr = bench.item(bench.get(order.id), "EGFR")
    assert egfr.result is None and egfr.status == "pending"
    assert row_count(bench.platform, Result, order_item_id=egfr.id) == 0


def test_ldl_by_friedewald(bench: Bench) -> None:
    order = bench.order(panels=["EAL"])
    partial = bench.enter(order, {"CHOL": "5.50", "HDL": "1.30"})
    assert len(partial) == 2, "no LDL while the triglycerides are missing"
    entered = bench.enter(order, {"TG": "1,50"})
    assert [r.value for r in entered] == ["1.50", "3.52"]  # 5.50 - 1.30 - 1.50 / 2.2
    ldl = bench.result(order.id, "LDLC")
    assert ldl is not None and ldl.value == "3.52" and ldl.flag == "N" and ldl.reference == (None, 4.1)


def test_no_ldl_when_triglycerides_are_too_high(bench: Bench) -> None:
    order = bench.order(panels=["EAL"])
    entered = bench.enter(order, {"CHOL": "7.00", "HDL": "1.00", "TG": "4.50"})
    assert [r.value for r in entered] == ["7.00", "1.00", "4.50"]
    ldl = bench.item(bench.get(order.id), "LDLC")
    assert ldl.result is None and ldl.status == "pending"


# --- batches ----------------------------------------------------------------------------------------


def test_a_batch_is_all_or_nothing(bench: Bench) -> None:
    codes = ["HGB", "K", "NA", "GLU", "CRP"]
    order = bench.order(tests=codes)
    for bad_position in (0, 2, 4):
        values = ["13.0", "4.0", "140", "5.0", "3.0"]
        values[bad_position] = "douze"
        entries = [
            ResultEntry(bench.item_id(order, c), v, "commentaire") for c, v in zip(codes, values, strict=True)
        ]
        before = results_in(bench)
        events_before = len(audit_events(bench.platform, bench.lab.id, "result.enter"))
        with pytest.raises(InvalidInput) as caught:
            bench.platform.results.enter(bench.technician, entries)
        assert caught.value.field == f"entries[{bad_position}].value"
        assert results_in(bench) == before, "no result row may be written by a refused batch"
        assert len(audit_events(bench.platform, bench.lab.id, "result.enter")) == events_before
        assert all(i.status == "pending" and i.result is None for i in bench.get(order.id).items)
        assert row_count(bench.platform, OrderItem, order_id=order.id, status="pending") == 5
    # The same batch, corrected, lands whole.
    good = [
        ResultEntry(bench.item_id(order, c), v)
        for c, v in zip(codes, ["13.0", "4.0", "140", "5.0", "3.0"], strict=True)
    ]
    assert len(bench.platform.results.enter(bench.technician, good)) == 5
    assert row_count(bench.platform, OrderItem, order_id=order.id, status="entered") == 5


def test_batch_refusals_name_the_entry(bench: Bench) -> None:
    order = bench.order(tests=["HGB", "K"])
    hgb, k = bench.item_id(order, "HGB"), bench.item_id(order, "K")
    before = results_in(bench)
    cases = [
        ([ResultEntry(hgb, "13"), ResultEntry(uuid.uuid4(), "4")], "entries[1].item_id"),
        ([ResultEntry(hgb, "13"), ResultEntry(k, "4"), ResultEntry(hgb, "14")], "entries[2].item_id"),
        ([ResultEntry(hgb, "13", "x" * 1001)], "entries[0].comment"),
    ]
    for entries, field in cases:
        with pytest.raises(InvalidInput) as caught:
            bench.platform.results.enter(bench.technician, entries)
        assert caught.value.field == field
    with pytest.raises(InvalidInput) as caught:
        bench.platform.results.enter(bench.technician, [])
    assert caught.value.field == "entries"
    assert results_in(bench) == before


def test_entry_before_the_specimen_is_received_is_refused(bench: Bench) -> None:
    ready = bench.order(tests=["K"])
    waiting = bench.order(tests=["HGB", "K"], receive=False)
    before = results_in(bench)
    with pytest.raises(InvalidInput) as caught:
        bench.platform.results.enter(
            bench.technician,
            [ResultEntry(bench.item_id(ready, "K"), "4.0"), ResultEntry(bench.item_id(waiting, "HGB"), "13")],
        )
    assert caught.value.field == "entries[1].item_id" and "received" in caught.value.reason
    assert results_in(bench) == before
    # Once scanned, the same entry goes through.
    edta = next(s for s in waiting.specimens if s.tube.startswith("EDTA"))
    bench.platform.specimens.receive(bench.reception, edta.barcode)
    (hgb,) = bench.enter(waiting, {"HGB": "13"})
    assert hgb.value == "13.0"
    with pytest.raises(InvalidInput):
        bench.enter(waiting, {"K": "4.0"})  # its heparin tube is still awaited


def test_reentry_before_validation_supersedes_the_first_version(bench: Bench) -> None:
    order = bench.order(tests=["HGB"])
    item = bench.item_id(order, "HGB")
    (v1,) = bench.enter(order, {"HGB": "13.2"})
    (v2,) = bench.enter(order, {"HGB": "13.8"}, comments={"HGB": "contrôle repassé"})
    assert (v1.version, v2.version) == (1, 2) and v1.id != v2.id
    current = bench.result(order.id, "HGB")
    assert current is not None and current.id == v2.id and current.value == "13.8"
    history = bench.platform.results.versions(bench.technician, item)
    assert [(s.version, s.status, s.value, reason) for s, reason in history] == [
        (1, "superseded", "13.2", None),
        (2, "entered", "13.8", None),
    ]
    assert row_count(bench.platform, Result, order_item_id=item) == 2
    # After technical validation but before the biologist signs, a new value needs no reason either.
    bench.platform.results.validate_technical(bench.technician, [item])
    (v3,) = bench.enter(order, {"HGB": "13.9"})
    assert v3.version == 3 and bench.item(bench.get(order.id), "HGB").status == "entered"
    actions = [
        e.action for e in audit_events(bench.platform, bench.lab.id) if e.detail.get("item") == str(item)
    ]
    assert actions.count("result.enter") == 1 and actions.count("result.correct") == 2


# --- worklists --------------------------------------------------------------------------------------


def test_entry_worklist_holds_received_measured_tests_urgent_first(bench: Bench) -> None:
    routine = bench.order(panels=["RENAL"])
    urgent = bench.order(tests=["CREA"], urgent=True)
    awaited = bench.order(tests=["UREA"], receive=False)
    lines = bench.platform.results.worklist(bench.technician, "biochemistry")
    ids = [line.item_id for line in lines]
    assert bench.item_id(urgent, "CREA") in ids and bench.item_id(routine, "CREA") in ids
    assert ids.index(bench.item_id(urgent, "CREA")) < ids.index(bench.item_id(routine, "CREA"))
    assert bench.item_id(routine, "EGFR") not in ids, "calculated tests are never typed in"
    assert bench.item_id(awaited, "UREA") not in ids, "tube not received yet"
    assert all(line.section == "biochemistry" for line in lines)
    first_urgent = next(line for line in lines if line.item_id == bench.item_id(urgent, "CREA"))
    assert first_urgent.urgent and first_urgent.accession == urgent.accession and first_urgent.result is None

    bench.enter(routine, {"CREA": "70"})
    technical = bench.platform.results.worklist(bench.technician, "biochemistry", "technical")
    line = next(line for line in technical if line.item_id == bench.item_id(routine, "CREA"))
    assert line.result is not None and line.result.value == "70"
    after = bench.platform.results.worklist(bench.technician, "biochemistry")
    assert bench.item_id(routine, "CREA") in {line.item_id for line in after}, "entered stays on entry list"
    with pytest.raises(Forbidden):
        bench.platform.results.worklist(bench.technician, "biochemistry", "biological")
    with pytest.raises(Forbidden):
        bench.platform.results.worklist(bench.reception, "biochemistry")
    for section, stage in (("nowhere", "entry"), ("biochemistry", "done")):
        with pytest.raises(InvalidInput):
            bench.platform.results.worklist(bench.technician, section, stage)


# --- other labs ---------------------------------------------------------------------------------------


def test_another_lab_sees_nothing_of_the_results(bench: Bench, other: Bench) -> None:
    order = bench.order(tests=["HGB", "K"])
    bench.enter(order, {"HGB": "6.0", "K": "4.0"})
    item = bench.item_id(order, "HGB")
    with pytest.raises(NotFound):
        other.platform.results.versions(other.biologist, item)
    with pytest.raises(NotFound):
        other.platform.results.record_critical_call(other.biologist, item, "Dr Autre, médecin", "phone")
    for stage in ("entry", "technical"):
        lines = other.platform.results.worklist(other.technician, "haematology", stage)
        assert item not in {line.item_id for line in lines}
    with pytest.raises(InvalidInput) as caught:
        other.platform.results.enter(other.technician, [ResultEntry(item, "12.0")])
    assert caught.value.field == "entries[0].item_id"
    with pytest.raises(InvalidInput):
        other.platform.results.validate_technical(other.technician, [item])
    current = bench.result(order.id, "HGB")
    assert current is not None and current.version == 1 and current.value == "6.0"
    # And lab A's own worklist does hold it.
    lines = bench.platform.results.worklist(bench.technician, "haematology", "technical")
    assert item in {line.item_id for line in lines}
