"""Edge cases where the record could silently stop telling the truth: a calculated value whose
inputs changed, a time given with an offset, a report regenerated after an identity change, and the
audit trail of worklist reads."""

from __future__ import annotations

import datetime as dt

import pytest

from labvault.platform import Platform
from labvault.workflow.models import Specimen
from tests.db_inspect import audit_events, raw_rows
from tests.factories import Bench


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des cas limites")


def test_a_calculated_value_is_withdrawn_when_corrected_inputs_no_longer_allow_it(bench: Bench) -> None:
    order = bench.order(panels=["EAL"])
    bench.enter(order, {"CHOL": "5.0", "HDL": "1.2", "TG": "1.5"})
    ldl = bench.result(order.id, "LDLC")
    assert ldl is not None and ldl.value == "3.12"
    bench.validate(order, ["CHOL", "HDL", "TG", "LDLC"])
    assert bench.platform.reports.release(bench.biologist, order.id).kind == "final"
    bench.enter(order, {"TG": "4.5"}, bench.biologist, reason="erreur de pipetage, contrôle refait")
    assert bench.result(order.id, "LDLC") is None  # Friedewald does not hold from 3.9 mmol/L
    assert bench.item(bench.get(order.id), "LDLC").status == "pending"
    withdrawn = audit_events(bench.platform, bench.lab.id, "result.withdraw")
    assert [e.object_id for e in withdrawn] == [str(ldl.id)]
    bench.validate(order, ["TG"])
    info = bench.platform.reports.release(bench.biologist, order.id)
    assert info.kind == "final" and info.results == 3  # LDL left off, not shown with a stale value


def test_times_with_an_offset_are_stored_as_the_same_instant(bench: Bench) -> None:
    order = bench.order(tests=["K"], receive=False)
    paris = dt.timezone(dt.timedelta(hours=2))
    drawn = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).astimezone(paris).replace(microsecond=0)
    bench.platform.specimens.collect(bench.reception, order.specimens[0].barcode, drawn)
    stored = bench.platform.specimens.get(bench.reception, order.specimens[0].barcode).collected_at
    assert stored == drawn and stored is not None and stored.utcoffset() == dt.timedelta(0)
    raw = raw_rows(bench.platform, Specimen, id=order.specimens[0].id)[0].collected_at
    assert (raw.replace(tzinfo=dt.UTC) if raw.tzinfo is None else raw) == drawn


def test_a_report_still_regenerates_after_the_patient_changes_name(bench: Bench) -> None:
    patient = bench.patient(birth_name="Avantmariage", first_names="Léa", used_name=None)
    order = bench.order(patient, tests=["K"])
    bench.enter_and_validate(order, {"K": "4.4"})
    bench.platform.reports.release(bench.biologist, order.id)
    bench.platform.patients.update(bench.reception, patient, {"used_name": "Aprèsmariage"})
    pdf, same = bench.platform.reports.regenerate(bench.biologist, order.id)
    assert same, "the report shows the identity as released; a later change is not tampering"
    assert pdf == bench.platform.reports.pdf(bench.biologist, order.id)


def test_worklist_reads_name_each_order_and_patient_shown(bench: Bench) -> None:
    order = bench.order(tests=["NA"])
    bench.enter(order, {"NA": "139"})
    lines = bench.platform.results.worklist(bench.technician, "biochemistry", "technical")
    assert order.id in {line.order_id for line in lines}
    events = [
        e for e in audit_events(bench.platform, bench.lab.id, "worklist.read") if e.object_id == str(order.id)
    ]
    assert events and events[-1].detail["patient"] == str(order.patient_id)
    assert str(bench.item_id(order, "NA")) in events[-1].detail["items"]
