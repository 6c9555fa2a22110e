"""Validation: technical then biological, critical-value calls, corrections with a reason, and the
report kinds and versions that follow."""

from __future__ import annotations

import pytest

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.platform import Platform
from labvault.workflow.models import CriticalCall, Report, Result
from tests.db_inspect import audit_events, raw_rows, row_count
from tests.factories import Bench


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform)


def test_technician_validates_technically_but_not_biologically(bench: Bench) -> None:
    order = bench.order(tests=["K", "NA"])
    bench.enter(order, {"K": "4.2", "NA": "140"})
    items = [bench.item_id(order, "K"), bench.item_id(order, "NA")]
    with pytest.raises(Conflict):
        bench.platform.results.validate_biological(bench.biologist, items)  # not technically validated
    assert bench.platform.results.validate_technical(bench.technician, items) == 2
    after = bench.get(order.id)
    assert {i.status for i in after.items} == {"tech_validated"}
    assert {i.result.status for i in after.items if i.result} == {"tech_validated"}
    with pytest.raises(Forbidden):
        bench.platform.results.validate_biological(bench.technician, items)
    with pytest.raises(Forbidden):
        bench.platform.results.validate_technical(bench.reception, items)
    with pytest.raises(Conflict):
        bench.platform.results.validate_technical(bench.technician, items)  # already done
    assert bench.platform.results.validate_biological(bench.biologist, items) == 2
    assert {i.status for i in bench.get(order.id).items} == {"validated"}
    (row,) = raw_rows(bench.platform, Result, order_item_id=items[0])
    assert row.status == "validated"
    assert (
        row.tech_validated_by == bench.technician.actor_id
        and row.bio_validated_by == bench.biologist.actor_id
    )
    assert row.tech_validated_at is not None and row.bio_validated_at is not None
    actions = [
        e.action for e in audit_events(bench.platform, bench.lab.id) if e.detail.get("item") == str(items[0])
    ]
    assert actions == ["result.enter", "result.validate_technical", "result.validate_biological"]


def test_validation_of_a_pending_item_is_refused(bench: Bench) -> None:
    order = bench.order(tests=["K"])
    with pytest.raises(Conflict) as caught:
        bench.platform.results.validate_technical(bench.technician, [bench.item_id(order, "K")])
    assert "item_ids[0]" in str(caught.value)
    with pytest.raises(InvalidInput):
        bench.platform.results.validate_technical(bench.technician, [])


def test_critical_value_needs_a_recorded_call_before_biological_validation(bench: Bench) -> None:
    order = bench.order(tests=["NA", "K", "HGB"])
    bench.enter(order, {"NA": "140", "K": "6.8", "HGB": "6.2"})
    na, k, hgb = (bench.item_id(order, code) for code in ("NA", "K", "HGB"))
    bench.platform.results.validate_technical(bench.technician, [na, k, hgb])
    with pytest.raises(Conflict) as caught:
        bench.platform.results.validate_biological(bench.biologist, [na, k, hgb])
    message = str(caught.value)
    assert "item_ids[1] (K)" in message and "item_ids[2] (HGB)" in message and "NA" not in message
    assert {i.status for i in bench.get(order.id).items} == {"tech_validated"}, "the batch is refused whole"

    with pytest.raises(Conflict):  # not a critical value: nothing to call
        bench.platform.results.record_critical_call(
            bench.technician, na, "Dr Garnier, médecin traitant", "phone"
        )
    for party, method, field in (("Dr", "phone", "called_party"), ("Dr Garnier", "fax", "method")):
        with pytest.raises(InvalidInput) as refused:
            bench.platform.results.record_critical_call(bench.technician, k, party, method)
        assert refused.value.field == field
    with pytest.raises(Forbidden):
        bench.platform.results.record_critical_call(bench.reception, k, "Dr Garnier, médecin", "phone")

    call = bench.platform.results.record_critical_call(
        bench.technician, k, "Dr Garnier, médecin traitant", "phone", "rappel à 14 h"
    )
    with pytest.raises(Conflict):
        bench.platform.results.record_critical_call(bench.biologist, k, "Dr Garnier, médecin", "phone")
    assert row_count(bench.platform, CriticalCall, lab_id=bench.lab.id, id=call) == 1
    with pytest.raises(Conflict) as still:
        bench.platform.results.validate_biological(bench.biologist, [na, k, hgb])
    assert "(HGB)" in str(still.value) and "(K)" not in str(still.value)

    bench.platform.results.record_critical_call(bench.biologist, hgb, "IDE service de garde", "in_person")
    assert bench.platform.results.validate_biological(bench.biologist, [na, k, hgb]) == 3
    after = bench.get(order.id)
    assert {i.status for i in after.items} == {"validated"}
    assert bench.item(after, "K").result.critical_called  # type: ignore[union-attr]
    assert not bench.item(after, "NA").result.critical_called  # type: ignore[union-attr]
    calls = audit_events(bench.platform, bench.lab.id, "result.critical_call")
    assert str(call) in {e.detail["call"] for e in calls}
    (stored,) = raw_rows(bench.platform, CriticalCall, id=call)
    assert b"Garnier" not in stored.called_party_enc and b"phone" not in stored.method_enc


def test_a_new_critical_version_needs_its_own_call(bench: Bench) -> None:
    order = bench.order(tests=["K"])
    k = bench.item_id(order, "K")
    bench.enter(order, {"K": "6.9"})
    bench.platform.results.record_critical_call(bench.technician, k, "Dr Garnier, médecin", "phone")
    bench.enter(order, {"K": "7.2"})  # re-measured: version 2, still critical
    bench.platform.results.validate_technical(bench.technician, [k])
    with pytest.raises(Conflict):
        bench.platform.results.validate_biological(bench.biologist, [k])
    bench.platform.results.record_critical_call(bench.technician, k, "Dr Garnier, médecin", "phone")
    assert bench.platform.results.validate_biological(bench.biologist, [k]) == 1


def test_correction_after_biological_validation_needs_a_reason_and_keeps_history(bench: Bench) -> None:
    order = bench.order(tests=["GLU"])
    glu = bench.item_id(order, "GLU")
    bench.enter(order, {"GLU": "5.20"})
    bench.validate(order, ["GLU"])
    (v1,) = [s for s, _ in bench.platform.results.versions(bench.biologist, glu)]
    with pytest.raises(InvalidInput) as caught:
        bench.enter(order, {"GLU": "7.80"})
    assert caught.value.field == "entries[0].correction_reason"
    with pytest.raises(InvalidInput):
        bench.enter(order, {"GLU": "7.80"}, reason="   ")
    assert row_count(bench.platform, Result, order_item_id=glu) == 1

    (v2,) = bench.enter(order, {"GLU": "7.80"}, reason="erreur de saisie : tube inversé")
    assert v2.version == 2 and v2.value == "7.80" and v2.flag == "H" and v2.status == "entered"
    history = bench.platform.results.versions(bench.technician, glu)
    assert [(s.version, s.status, s.value, s.flag, reason) for s, reason in history] == [
        (1, "superseded", "5.20", "N", None),
        (2, "entered", "7.80", "H", "erreur de saisie : tube inversé"),
    ]
    assert history[0][0].id == v1.id
    (old,) = raw_rows(bench.platform, Result, id=v1.id)
    assert old.bio_validated_by == bench.biologist.actor_id, "the old version keeps who signed it"
    (new,) = raw_rows(bench.platform, Result, id=v2.id)
    assert new.supersedes_id == v1.id
    assert bench.item(bench.get(order.id), "GLU").status == "entered", "a correction is validated again"
    corrections = [
        e for e in audit_events(bench.platform, bench.lab.id, "result.correct") if e.object_id == str(v2.id)
    ]
    assert len(corrections) == 1 and corrections[0].detail["version"] == 2


def test_versions_of_an_unknown_item(bench: Bench) -> None:
    order = bench.order(tests=["GLU"], receive=False)
    assert bench.platform.results.versions(bench.technician, bench.item_id(order, "GLU")) == []
    with pytest.raises(Forbidden):
        bench.platform.results.versions(bench.reception, bench.item_id(order, "GLU"))
    with pytest.raises(NotFound):
        bench.platform.results.versions(bench.technician, order.id)  # an order id is no item id


def test_report_needs_a_biologically_validated_result(bench: Bench) -> None:
    order = bench.order(tests=["K", "NA"])
    with pytest.raises(Conflict):
        bench.platform.reports.release(bench.biologist, order.id)
    bench.enter(order, {"K": "4.0", "NA": "140"})
    bench.validate(order, ["K", "NA"], biological=False)
    with pytest.raises(Conflict):
        bench.platform.reports.release(bench.biologist, order.id)
    with pytest.raises(Forbidden):
        bench.platform.reports.release(bench.technician, order.id)
    assert row_count(bench.platform, Report, order_id=order.id) == 0
    with pytest.raises(NotFound):
        bench.platform.reports.pdf(bench.reception, order.id)


def test_partial_then_final_report_versions(bench: Bench) -> None:
    order = bench.order(tests=["HGB", "K", "CRP"])
    bench.enter(order, {"HGB": "13.1", "K": "4.4"})
    bench.validate(order, ["HGB"])
    first = bench.platform.reports.release(bench.biologist, order.id)
    assert (first.version, first.kind, first.results, first.restricted) == (1, "partial", 1, False)
    with pytest.raises(Conflict):
        bench.platform.reports.release(bench.biologist, order.id)  # nothing new since version 1

    bench.validate(order, ["K"])
    second = bench.platform.reports.release(bench.biologist, order.id)
    assert (second.version, second.kind, second.results) == (2, "partial", 2)
    bench.enter(order, {"CRP": "3.0"})
    bench.validate(order, ["CRP"])
    third = bench.platform.reports.release(bench.biologist, order.id)
    assert (third.version, third.kind, third.results) == (3, "final", 3)
    with pytest.raises(Conflict):
        bench.platform.reports.release(bench.biologist, order.id)
    listed = bench.platform.reports.list(bench.reception, order.id)
    assert [(r.version, r.kind) for r in listed] == [(1, "partial"), (2, "partial"), (3, "final")]
    assert bench.get(order.id, bench.reception).reports == (1, 2, 3)

    # A correction after the final report: validated again, it gives a new final version.
    bench.enter(order, {"K": "4.9"}, reason="hémolyse non signalée, tube repassé")
    bench.validate(order, ["K"])
    fourth = bench.platform.reports.release(bench.biologist, order.id)
    assert (fourth.version, fourth.kind, fourth.results) == (4, "final", 3)
    releases = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "report.release")
        if e.detail["order"] == str(order.id)
    ]
    assert [(e.detail["version"], e.detail["kind"]) for e in releases] == [
        (1, "partial"),
        (2, "partial"),
        (3, "final"),
        (4, "final"),
    ]


def test_correcting_an_input_corrects_the_validated_calculated_result(bench: Bench) -> None:
    order = bench.order(bench.patient(sex="M"), panels=["RENAL"])
    bench.enter(order, {"CREA": "90", "UREA": "5.0"})
    bench.validate(order, ["CREA", "UREA", "EGFR"])
    egfr = bench.item_id(order, "EGFR")
    (crea, recalculated) = bench.enter(order, {"CREA": "180"}, reason="dilution oubliée")
    assert (crea.version, recalculated.version) == (2, 2)
    history = bench.platform.results.versions(bench.biologist, egfr)
    assert [(s.version, s.status, reason) for s, reason in history] == [
        (1, "superseded", None),
        (2, "entered", "inputs corrected"),
    ]
    assert int(history[1][0].value) < int(history[0][0].value)
    assert bench.item(bench.get(order.id), "EGFR").status == "entered", "to be validated again"
