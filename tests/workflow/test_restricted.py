"""Restricted results (HIV, hepatitis, pregnancy...): biologists only, or while the reader's own
break-the-glass override for that patient is open (tests/security/test_break_glass.py opens them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import Account, context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Role
from labvault.security.grant_models import AccessOverride
from labvault.store.base import utcnow
from labvault.workflow.models import Result
from labvault.workflow.order_data import OrderRecord
from labvault.workflow.result_entry import ResultEntry
from tests.db_inspect import audit_events, row_count
from tests.factories import Bench
from tests.pdf import pdf_text

RESTRICTED = ("HIV", "HBSAG", "HBSAB", "HBCAB", "HCV")
REASON = "Patient aux urgences, médecin de garde au téléphone"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform)


def serology(bench: Bench, patient_id: uuid.UUID | None = None) -> OrderRecord:
    return bench.order(patient_id, panels=["HEPSERO"], tests=["HIV", "TOXOG", "HGB"])


def staff(bench: Bench, role: Role) -> tuple[Account, AccessContext]:
    account = bench.factory.user(bench.lab, role)
    return account, context_for(account)


def open_glass(bench: Bench, account: Account, patient_id: uuid.UUID) -> uuid.UUID:
    """``account`` re-authenticates and breaks the glass for ``patient_id``; the override's id."""
    fresh = dataclasses.replace(account, reauthenticated_at=utcnow())
    return bench.platform.break_glass.open(fresh, context_for(account), patient_id, REASON).id


def expire(bench: Bench, override_id: uuid.UUID) -> None:
    with bench.platform.db.owner_engine.begin() as conn:
        conn.execute(
            update(AccessOverride)
            .where(AccessOverride.id == override_id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )


def uses(bench: Bench, object_id: uuid.UUID) -> list[dict[str, object]]:
    """The details of the override uses audited on one object."""
    events = audit_events(bench.platform, bench.lab.id, "restricted.override_use")
    return [e.detail for e in events if e.object_id == str(object_id)]


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
    assert row_count(bench.platform, AccessOverride, patient_id=order.patient_id) == 0
    assert uses(bench, order.id) == [], "no override, nothing used"


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
    # Refused as an item that does not exist (test_restricted_refusals.py): no 403 naming HIV.
    with pytest.raises(InvalidInput, match="no such order item"):
        bench.platform.results.enter(
            bench.technician,
            [ResultEntry(bench.item_id(order, "TOXOG"), "negative"), ResultEntry(hiv, "negative")],
        )
    assert row_count(bench.platform, Result, lab_id=bench.lab.id) == before, "the whole batch is refused"
    (entered,) = bench.platform.results.enter(bench.biologist, [ResultEntry(hiv, "Positive")])
    assert (entered.value, entered.flag) == ("positive", "A")
    with pytest.raises(InvalidInput, match="no such order item"):
        bench.platform.results.validate_technical(bench.technician, [hiv])
    with pytest.raises(NotFound):
        bench.platform.results.versions(bench.technician, hiv)
    assert [s.value for s, _ in bench.platform.results.versions(bench.biologist, hiv)] == ["positive"]
    technical = bench.platform.results.worklist(bench.technician, "immunology/serology", "technical")
    assert hiv not in {line.item_id for line in technical}


def test_an_override_opens_reads_never_entry_or_validation(bench: Bench) -> None:
    order = serology(bench)
    hiv = bench.item_id(order, "HIV")
    account, technician = staff(bench, Role.TECHNICIAN)
    open_glass(bench, account, order.patient_id)
    assert bench.item(bench.platform.orders.get(technician, order.id), "HIV").restricted
    with pytest.raises(Forbidden):
        bench.platform.results.enter(technician, [ResultEntry(hiv, "negative")])
    bench.platform.results.enter(bench.biologist, [ResultEntry(hiv, "negative")])
    with pytest.raises(Forbidden):
        bench.platform.results.validate_technical(technician, [hiv])
    worklist = bench.platform.results.worklist(technician, "immunology/serology", "technical")
    assert hiv not in {line.item_id for line in worklist}, "worklists span patients: no override there"


def test_restricted_report_needs_a_biologist_or_an_open_override(bench: Bench) -> None:
    order = serology(bench)
    bench.enter_and_validate(order, {"HIV": "positive", "HGB": "13.4"})
    info = bench.platform.reports.release(bench.biologist, order.id)
    assert info.restricted

    account, reception = staff(bench, Role.RECEPTION)
    with pytest.raises(Forbidden) as refused:
        bench.platform.reports.pdf(reception, order.id)
    assert "break-glass" in str(refused.value)
    technician_account, technician = staff(bench, Role.TECHNICIAN)
    open_glass(bench, technician_account, order.patient_id)
    with pytest.raises(Forbidden):
        bench.platform.reports.pdf(technician, order.id)  # technicians read no report at all

    override_id = open_glass(bench, account, order.patient_id)
    pdf = bench.platform.reports.pdf(reception, order.id)
    text = pdf_text(pdf)
    assert "Sérologie VIH" in text and "positive A *" in text
    assert uses(bench, info.id) == [{"override_id": str(override_id)}]
    (event,) = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "restricted.override_use")
        if e.object_id == str(info.id)
    ]
    assert (event.actor_id, event.patient_id, event.object_type) == (account.id, order.patient_id, "report")

    # The biologist reads it by right: no override used.
    assert bench.platform.reports.pdf(bench.biologist, order.id) == pdf
    assert len(uses(bench, info.id)) == 1


def test_report_without_validated_restricted_result_is_not_restricted(bench: Bench) -> None:
    order = serology(bench)
    bench.enter_and_validate(order, {"HGB": "14.1", "TOXOG": "negative"})
    info = bench.platform.reports.release(bench.biologist, order.id)
    assert not info.restricted and info.kind == "partial"
    account, reception = staff(bench, Role.RECEPTION)
    open_glass(bench, account, order.patient_id)
    text = pdf_text(bench.platform.reports.pdf(reception, order.id))
    assert "Hémoglobine 14.1" in text and "Toxoplasmose IgG negative" in text
    for name in ("VIH", "Antigène HBs", "anti-HBs", "anti-VHC"):
        assert name not in text, f"pending restricted test {name} shown on an unrestricted report"
    assert uses(bench, info.id) == [], "nothing restricted on the report: the override is not used"


def test_an_open_override_shows_the_order_to_its_holder_for_that_patient_only(bench: Bench) -> None:
    order = serology(bench)
    other = serology(bench)
    bench.enter_and_validate(order, {"HIV": "negative"})
    account, technician = staff(bench, Role.TECHNICIAN)
    override_id = open_glass(bench, account, order.patient_id)

    seen = bench.platform.orders.get(technician, order.id)
    assert seen.hidden_items == 0
    hiv = bench.item(seen, "HIV")
    assert hiv.result is not None and hiv.result.value == "negative"
    assert uses(bench, order.id) == [{"override_id": str(override_id)}]
    assert bench.platform.orders.for_patient(technician, order.patient_id)[0].hidden_items == 0

    assert bench.platform.orders.get(technician, other.id).hidden_items == 5, "another patient: closed"
    assert bench.platform.orders.get(bench.technician, order.id).hidden_items == 5, "another user: closed"

    reception_account, reception = staff(bench, Role.RECEPTION)
    open_glass(bench, reception_account, order.patient_id)
    shown = bench.platform.orders.get(reception, order.id)
    assert shown.hidden_items == 0
    assert all(i.result is None for i in shown.items), "reception never reads results outside a report"

    # Nothing restricted on the order: no glass to open, no use recorded.
    plain = bench.order(order.patient_id, tests=["HGB"])
    assert bench.platform.orders.get(technician, plain.id).hidden_items == 0
    assert uses(bench, plain.id) == []


def test_an_expired_override_opens_nothing(bench: Bench) -> None:
    order = serology(bench)
    account, technician = staff(bench, Role.TECHNICIAN)
    override_id = open_glass(bench, account, order.patient_id)
    assert bench.platform.orders.get(technician, order.id).hidden_items == 0
    expire(bench, override_id)
    assert bench.platform.orders.get(technician, order.id).hidden_items == 5
    assert len(uses(bench, order.id)) == 1, "the expired override was not used again"


def test_restricted_numeric_results_stay_out_of_the_technician_history(bench: Bench) -> None:
    order = bench.order(bench.patient(sex="F"), tests=["HCG", "HGB"])
    bench.enter_and_validate(order, {"HCG": "1250.0", "HGB": "12.8"})
    account, technician = staff(bench, Role.TECHNICIAN)
    assert [s.test_code for s in bench.platform.reports.history(technician, order.patient_id).series] == [
        "HGB"
    ]
    biologist = bench.platform.reports.history(bench.biologist, order.patient_id)
    assert sorted(s.test_code for s in biologist.series) == ["HCG", "HGB"]
    open_glass(bench, account, order.patient_id)
    opened = bench.platform.reports.history(technician, order.patient_id)
    assert sorted(s.test_code for s in opened.series) == ["HCG", "HGB"]
