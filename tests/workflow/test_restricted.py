"""Restricted results (HIV, hepatitis, pregnancy...): biologists only, or a break-the-glass reason
that is stored, audited and flagged."""

from __future__ import annotations

import pytest

from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.platform import Platform
from labvault.workflow.base import MIN_OVERRIDE_REASON
from labvault.workflow.models import AccessOverride, Result
from labvault.workflow.order_data import OrderRecord
from labvault.workflow.results import ResultEntry
from tests.workflow.helpers import Bench, audit_events, pdf_text, raw_rows, row_count

RESTRICTED = ("HIV", "HBSAG", "HBSAB", "HBCAB", "HCV")
REASON = "Patient aux urgences, médecin de garde au téléphone"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform)


def overrides(bench: Bench) -> int:
    return row_count(bench.platform, AccessOverride, lab_id=bench.lab.id)


def serology(bench: Bench) -> OrderRecord:
    return bench.order(panels=["HEPSERO"], tests=["HIV", "TOXOG", "HGB"])


def test_restricted_items_hidden_from_reception_and_technician(bench: Bench) -> None:
    order = serology(bench)
    for ctx in (bench.reception, bench.technician):
        seen = bench.platform.orders.get(ctx, order.id)
        assert seen.hidden_items == 5
        assert {i.test_code for i in seen.items} == {"TOXOG", "HGB"}
        assert not any(i.restricted for i in seen.items)
    full = bench.get(order.id)
    assert full.hidden_items == 0 and {i.test_code for i in full.items} == {*RESTRICTED, "TOXOG", "HGB"}
    assert all(bench.item(full, code).restricted for code in RESTRICTED)
    # Nor do they show up as billed acts (HIV 0388, hepatitis serology 4500 + 3784).
    for ctx in (bench.reception, bench.technician):
        seen = bench.platform.orders.get(ctx, order.id)
        assert [(act.nabm, act.b) for act in seen.billing] == [("1420", 40)], "TOXOG only (HGB: no act)"
        assert not any("VIH" in act.label or "hépatite" in act.label for act in seen.billing)
    assert {act.nabm for act in full.billing} == {"4500", "3784", "0388", "1420"}
    assert full.total_b == 150 + 55 + 50 + 40
    listed = bench.platform.orders.for_patient(bench.technician, order.patient_id)
    assert listed[0].hidden_items == 5 and "HIV" not in {i.test_code for i in listed[0].items}
    assert row_count(bench.platform, AccessOverride, object_id=order.id) == 0, "no reason, no override"


def test_restricted_items_only_on_the_biologist_worklist(bench: Bench) -> None:
    order = serology(bench)
    hiv, toxo = bench.item_id(order, "HIV"), bench.item_id(order, "TOXOG")
    technician = {
        line.item_id for line in bench.platform.results.worklist(bench.technician, "immunology/serology")
    }
    assert toxo in technician and hiv not in technician
    assert not {bench.item_id(order, code) for code in RESTRICTED} & technician
    biologist = {
        line.item_id for line in bench.platform.results.worklist(bench.biologist, "immunology/serology")
    }
    assert {hiv, toxo} <= biologist


def test_technician_cannot_enter_or_validate_a_restricted_result(bench: Bench) -> None:
    order = serology(bench)
    hiv = bench.item_id(order, "HIV")
    before = row_count(bench.platform, Result, lab_id=bench.lab.id)
    with pytest.raises(Forbidden):
        bench.platform.results.enter(
            bench.technician,
            [ResultEntry(bench.item_id(order, "TOXOG"), "negative"), ResultEntry(hiv, "negative")],
        )
    assert row_count(bench.platform, Result, lab_id=bench.lab.id) == before, "the whole batch is refused"
    (entered,) = bench.platform.results.enter(bench.biologist, [ResultEntry(hiv, "Positive")])
    assert (entered.value, entered.flag) == ("positive", "A")
    with pytest.raises(Forbidden):
        bench.platform.results.validate_technical(bench.technician, [hiv])
    with pytest.raises(NotFound):
        bench.platform.results.versions(bench.technician, hiv)
    assert [s.value for s, _ in bench.platform.results.versions(bench.biologist, hiv)] == ["positive"]
    technical = bench.platform.results.worklist(bench.technician, "immunology/serology", "technical")
    assert hiv not in {line.item_id for line in technical}


def test_restricted_report_needs_a_biologist_or_a_reason(bench: Bench) -> None:
    order = serology(bench)
    bench.enter_and_validate(order, {"HIV": "positive", "HGB": "13.4"})
    info = bench.platform.reports.release(bench.biologist, order.id)
    assert info.restricted

    before = overrides(bench)
    with pytest.raises(Forbidden):
        bench.platform.reports.pdf(bench.reception, order.id)
    for short in ("urgence", " " * 20, "a  b  c  d  e  f  g"[: MIN_OVERRIDE_REASON - 1]):
        with pytest.raises(InvalidInput) as caught:
            bench.platform.reports.pdf(bench.reception, order.id, break_glass_reason=short)
        assert caught.value.field == "break_glass_reason"
    with pytest.raises(Forbidden):
        bench.platform.reports.pdf(bench.technician, order.id, break_glass_reason=REASON)
    assert overrides(bench) == before, "a refused access writes no override"

    pdf = bench.platform.reports.pdf(bench.reception, order.id, break_glass_reason=f"  {REASON} ")
    text = pdf_text(pdf)
    assert "Sérologie VIH" in text and "positive A *" in text
    assert overrides(bench) == before + 1
    (row,) = [
        r for r in raw_rows(bench.platform, AccessOverride, lab_id=bench.lab.id) if r.object_id == info.id
    ]
    assert (row.actor_id, row.object_type, row.reviewed_at) == (bench.reception.actor_id, "report", None)
    assert row.reason_enc and b"urgences" not in row.reason_enc
    events = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "restricted.break_glass")
        if e.object_id == str(info.id)
    ]
    assert len(events) == 1
    assert events[0].detail == {"override_id": str(row.id), "alert": True}
    assert events[0].actor_id == bench.reception.actor_id and "urgences" not in str(events[0].detail)

    # The biologist reads it without a reason, and without an override.
    assert bench.platform.reports.pdf(bench.biologist, order.id) == pdf
    assert overrides(bench) == before + 1


def test_report_without_validated_restricted_result_is_not_restricted(bench: Bench) -> None:
    order = serology(bench)
    bench.enter_and_validate(order, {"HGB": "14.1", "TOXOG": "negative"})
    info = bench.platform.reports.release(bench.biologist, order.id)
    assert not info.restricted and info.kind == "partial"
    text = pdf_text(bench.platform.reports.pdf(bench.reception, order.id))
    assert "Hémoglobine 14.1" in text and "Toxoplasmose IgG negative" in text
    for name in ("VIH", "Antigène HBs", "anti-HBs", "anti-VHC"):
        assert name not in text, f"pending restricted test {name} shown on an unrestricted report"
    before = overrides(bench)
    bench.platform.reports.pdf(bench.reception, order.id, break_glass_reason=REASON)
    assert overrides(bench) == before, "nothing restricted on the report: no glass broken"


def test_break_the_glass_on_an_order(bench: Bench) -> None:
    order = serology(bench)
    bench.enter_and_validate(order, {"HIV": "negative"})
    before = overrides(bench)
    seen = bench.platform.orders.get(bench.technician, order.id, break_glass_reason=REASON)
    assert seen.hidden_items == 0
    hiv = bench.item(seen, "HIV")
    assert hiv.result is not None and hiv.result.value == "negative"
    assert overrides(bench) == before + 1
    rows = [
        r for r in raw_rows(bench.platform, AccessOverride, lab_id=bench.lab.id) if r.object_id == order.id
    ]
    assert [(r.object_type, r.actor_id) for r in rows] == [("order", bench.technician.actor_id)]
    with pytest.raises(InvalidInput):
        bench.platform.orders.get(bench.technician, order.id, break_glass_reason="je veux voir")
    reception = bench.platform.orders.get(bench.reception, order.id, break_glass_reason=REASON)
    assert reception.hidden_items == 0
    assert all(i.result is None for i in reception.items), "reception never reads results outside a report"
    assert overrides(bench) == before + 2

    # Nothing restricted on the order: no glass to break, no override, no alert.
    plain = bench.order(tests=["HGB"])
    alerts = len(audit_events(bench.platform, bench.lab.id, "restricted.break_glass"))
    assert bench.platform.orders.get(bench.technician, plain.id, break_glass_reason=REASON).hidden_items == 0
    assert overrides(bench) == before + 2
    assert len(audit_events(bench.platform, bench.lab.id, "restricted.break_glass")) == alerts


def test_restricted_numeric_results_stay_out_of_the_technician_history(bench: Bench) -> None:
    order = bench.order(bench.patient(sex="F"), tests=["HCG", "HGB"])
    bench.enter_and_validate(order, {"HCG": "1250.0", "HGB": "12.8"})
    technician = bench.platform.reports.history(bench.technician, order.patient_id)
    assert [s.test_code for s in technician.series] == ["HGB"]
    biologist = bench.platform.reports.history(bench.biologist, order.patient_id)
    assert sorted(s.test_code for s in biologist.series) == ["HCG", "HGB"]
