"""Every audit event that touches a patient's record names that patient (the access log and the
read budgets rely on it): one patient pushed through the whole workflow, every event checked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from labvault.platform import Platform
from labvault.security.models import AuditEvent
from labvault.workflow.result_entry import ResultEntry
from tests.factories import Bench

EVENTS = AuditEvent.__table__
# Events about no single patient: a search (its hits are separate events), an empty worklist.
PATIENTLESS = {"patient.search", "lab.create", "user.create", "catalog.import", "physician.create"}


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des sujets d'audit")


def test_every_workflow_event_names_its_patient(bench: Bench) -> None:
    platform = bench.platform
    with platform.db.owner_engine.connect() as conn:
        start = conn.execute(select(EVENTS.c.chain_seq).where(EVENTS.c.chain == str(bench.lab.id))).all()
    first_new = max((row.chain_seq for row in start), default=0) + 1

    patient = bench.patient()
    doctor, _rpps = bench.physician("Ferrand", "Odile")
    order = bench.order(patient, tests=["NA", "K", "CREA"], prescriber_id=doctor)
    platform.patients.get(bench.reception, patient)
    platform.orders.for_patient(bench.reception, patient)
    platform.orders.labels(bench.reception, order.id)
    platform.specimens.get(bench.technician, order.specimens[0].barcode)
    platform.results.worklist(bench.technician, "biochemistry", "entry")
    bench.enter(order, {"NA": "140", "K": "4.2", "CREA": "80"})
    platform.items.rehearse_entry(bench.technician, [ResultEntry(bench.item_id(order, "NA"), "141")])
    bench.validate(order, ["NA", "K", "CREA"])
    platform.results.versions(bench.biologist, bench.item_id(order, "NA"))
    platform.reports.release(bench.biologist, order.id)
    platform.reports.list(bench.reception, order.id)
    platform.reports.pdf(bench.reception, order.id)
    platform.reports.regenerate(bench.biologist, order.id)
    platform.reports.history(bench.biologist, patient)

    with platform.db.owner_engine.connect() as conn:
        rows = conn.execute(
            select(EVENTS.c.action, EVENTS.c.patient_id, EVENTS.c.detail)
            .where(EVENTS.c.chain == str(bench.lab.id), EVENTS.c.chain_seq >= first_new)
            .order_by(EVENTS.c.chain_seq)
        ).all()
    actions = {row.action for row in rows}
    for expected in (
        "patient.create", "patient.read", "order.create", "order.list", "order.labels", "specimen.receive",
        "specimen.read", "worklist.read", "result.enter", "result.rehearse", "result.validate_technical",
        "result.validate_biological", "result.history", "report.release", "report.list", "report.read",
        "report.regenerate", "result.cumulative",
    ):  # fmt: skip
        assert expected in actions, f"{expected} not audited"
    unnamed = [
        row.action
        for row in rows
        if row.patient_id is None
        and row.action not in PATIENTLESS
        and not (row.action == "worklist.read" and row.detail.get("lines") == 0)
    ]
    assert unnamed == [], f"events without their patient: {sorted(set(unnamed))}"
    wrong = {row.action for row in rows if row.patient_id not in (None, patient)}
    assert wrong <= {"worklist.read"}, f"events naming another patient: {wrong}"


def test_entries_without_a_patient_hash_as_before() -> None:
    """Entries written before events named their patient must still verify: the key is left out of
    the hashed form when there is no patient (the review found every old entry failing)."""
    import datetime as dt
    import json
    import uuid

    from labvault.security.audit_chain import ChainEntry

    fields = ("lab", 1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None, None, "u", "biologist", "lab.create",
              "lab", None, "care", "local", {})  # fmt: skip
    assert "patient" not in json.loads(ChainEntry(*fields).canonical())
    someone = uuid.uuid4()
    assert json.loads(ChainEntry(*fields, patient_id=someone).canonical())["patient"] == str(someone)
