"""A prescriber reads the orders they prescribed, and nothing else.

Lab A: patient P has order O prescribed by Dr D (the prescriber account's physician: K and HIV
signed, NA entered only, HIV restricted) and order X prescribed by Dr E (K signed); patient Q has
only Dr E's order; lab B has its own order. D's account reads O, its signed results (HIV
included), its report and P's identity; gets the policy's 403 on X, on an order without a
prescriber and on Q; lists (P's orders, P's history, searches, worklists) hold only what D
prescribed; another lab's order is not found; and D never writes, enters, validates or releases.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from labvault.errors import Forbidden, NotFound
from labvault.identity.accounts import Account, context_for
from labvault.identity.patient_data import PatientRecord
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.permissions import Permission
from labvault.security.policy import Relationship
from labvault.store.base import utcnow
from labvault.workflow.base import sees_restricted
from labvault.workflow.order_data import OrderRecord, OrderRequest
from labvault.workflow.result_entry import ResultEntry
from tests.db_inspect import audit_events
from tests.factories import GIVEN_PASSWORD, Bench, own
from tests.pdf import pdf_text

OWN_ONLY = "a prescriber sees only the orders they prescribed"


@dataclass
class World:
    bench: Bench
    other: Bench
    account: Account  # Dr D's prescriber account
    dr: AccessContext
    patient: PatientRecord  # P
    stranger: PatientRecord  # Q: only Dr E's orders
    own: OrderRecord  # O, by Dr D
    theirs: OrderRecord  # X, P's order by Dr E
    unsigned: OrderRecord  # P's order without a prescriber
    strangers: OrderRecord  # Q's order, by Dr E
    other_lab: OrderRecord  # lab B's order

    @property
    def platform(self) -> Platform:
        return self.bench.platform


def prescriber_account(bench: Bench, physician_id: uuid.UUID) -> Account:
    admin = bench.factory.user(bench.lab, Role.LAB_ADMIN)
    account = bench.platform.accounts.create_user(
        context_for(admin, Purpose.ADMINISTRATION),
        f"dr{uuid.uuid4().hex[:12]}",
        GIVEN_PASSWORD,
        Role.PRESCRIBER,
        bench.lab.id,
        physician_id=physician_id,
    )
    return own(bench.platform, account)


def registered(bench: Bench) -> PatientRecord:
    return bench.platform.patients.get(bench.reception, bench.patient())


@pytest.fixture(scope="module")
def world(platform: Platform, other: Bench) -> World:
    bench = Bench.create(platform)
    dr_d, _ = bench.physician("Dupraz", "Denise")
    dr_e, _ = bench.physician("Estienne", "Eugène")
    account = prescriber_account(bench, dr_d)
    patient, stranger = registered(bench), registered(bench)
    own = bench.order(patient.id, tests=["K", "NA", "HIV"], prescriber_id=dr_d)
    bench.enter(own, {"K": "4.1", "NA": "139"})
    bench.enter(own, {"HIV": "negative"}, bench.biologist)
    bench.validate(own, ["K", "HIV"])
    bench.platform.reports.release(bench.biologist, own.id)
    theirs = bench.order(patient.id, tests=["K"], prescriber_id=dr_e)
    bench.enter_and_validate(theirs, {"K": "5.3"})
    bench.platform.reports.release(bench.biologist, theirs.id)
    unsigned = bench.order(patient.id, tests=["GLU"])
    strangers = bench.order(stranger.id, tests=["K"], prescriber_id=dr_e)
    dr_b, _ = other.physician()
    other_lab = other.order(tests=["K"], prescriber_id=dr_b)
    return World(
        bench,
        other,
        account,
        context_for(account),
        patient,
        stranger,
        own,
        theirs,
        unsigned,
        strangers,
        other_lab,
    )


def test_the_prescriber_reads_their_order_with_its_signed_results_restricted_included(world: World) -> None:
    record = world.platform.orders.get(world.dr, world.own.id)
    items = {item.test_code: item for item in record.items}
    assert set(items) == {"K", "NA", "HIV"} and record.hidden_items == 0
    assert items["HIV"].restricted and items["HIV"].result is not None
    assert items["HIV"].result.value == "negative"
    assert items["K"].result is not None and items["K"].result.value == "4.1"
    # Entered, not yet signed by a biologist: the prescriber waits for it, as for the report.
    assert items["NA"].status == "entered" and items["NA"].result is None
    staff = world.platform.orders.get(world.bench.technician, world.own.id)
    assert {i.test_code: i.result is not None for i in staff.items} == {"K": True, "NA": True}


def test_another_physicians_order_is_refused_with_the_policys_reason(world: World) -> None:
    platform, dr = world.platform, world.dr
    before = len(audit_events(platform, world.bench.lab.id))
    k_item = world.bench.item_id(world.theirs, "K")
    reads: list[Callable[[], Any]] = [
        lambda: platform.orders.get(dr, world.theirs.id),
        lambda: platform.orders.get(dr, world.unsigned.id),
        lambda: platform.reports.list(dr, world.theirs.id),
        lambda: platform.reports.pdf(dr, world.theirs.id, 1),
        lambda: platform.results.versions(dr, k_item),
        lambda: platform.patients.get(dr, world.stranger.id),
        lambda: platform.orders.for_patient(dr, world.stranger.id),
        lambda: platform.reports.history(dr, world.stranger.id),
    ]
    for read in reads:
        with pytest.raises(Forbidden, match=OWN_ONLY):
            read()
    assert len(audit_events(platform, world.bench.lab.id)) == before, "a refused read shows nothing"


def test_another_labs_order_and_patient_are_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.platform.orders.get(world.dr, world.other_lab.id)
    with pytest.raises(NotFound):
        world.platform.reports.list(world.dr, world.other_lab.id)
    with pytest.raises(NotFound):
        world.platform.orders.for_patient(world.dr, world.other_lab.patient_id)
    with pytest.raises(NotFound):
        world.platform.patients.get(world.dr, world.other_lab.patient_id)


def test_the_patients_orders_and_history_hold_only_the_prescribers_own(world: World) -> None:
    platform, dr = world.platform, world.dr
    orders = platform.orders.for_patient(dr, world.patient.id)
    assert [o.id for o in orders] == [world.own.id]
    assert {o.id for o in platform.orders.for_patient(world.bench.reception, world.patient.id)} == {
        world.own.id,
        world.theirs.id,
        world.unsigned.id,
    }
    listed = [e for e in audit_events(platform, world.bench.lab.id, "order.list") if e.role == "prescriber"]
    assert listed[-1].detail == {"orders": 1}, "the count names the prescriber's orders only"
    history = platform.reports.history(dr, world.patient.id)
    potassium = {s.test_code: [p.value for p in s.points] for s in history.series}
    assert potassium == {"K": [4.1]}, "Dr E's 5.3 is not the prescriber's"
    staff = platform.reports.history(world.bench.biologist, world.patient.id)
    assert sorted(p.value for s in staff.series if s.test_code == "K" for p in s.points) == [4.1, 5.3]


def test_patient_identity_and_searches_only_for_the_prescribers_patients(world: World) -> None:
    platform, dr = world.platform, world.dr
    assert platform.patients.get(dr, world.patient.id).id == world.patient.id
    for person, expected in ((world.patient, [world.patient.id]), (world.stranger, [])):
        data = person.data
        found = platform.patients.find_by_name_birth(dr, data.birth_name, data.birth_date)
        assert [r.id for r in found] == expected
        assert [r.id for r in platform.patients.find_by_name_birth(
            world.bench.reception, data.birth_name, data.birth_date
        )] == [person.id]  # fmt: skip
    search = audit_events(platform, world.bench.lab.id, "patient.search")
    assert search[-2].detail["results"] == [] and search[-2].role == "prescriber"


def test_worklists_show_only_the_prescribers_items(world: World) -> None:
    bench, dr = world.bench, world.dr
    mine = bench.order(world.patient.id, tests=["K"], prescriber_id=world.account.physician_id)
    others = bench.order(world.patient.id, tests=["K"], prescriber_id=world.theirs.prescriber_id)
    lines = world.platform.results.worklist(dr, "biochemistry", "entry")
    shown = {line.item_id for line in lines}
    assert bench.item_id(mine, "K") in shown and bench.item_id(others, "K") not in shown
    assert {line.order_id for line in lines} <= {mine.id, world.own.id}
    staff = {line.item_id for line in world.platform.results.worklist(bench.technician, "biochemistry")}
    assert bench.item_id(others, "K") in staff
    with pytest.raises(Forbidden):
        world.platform.results.worklist(dr, "biochemistry", "biological")


def test_the_prescriber_reads_their_report_restricted_result_included(world: World) -> None:
    platform, dr = world.platform, world.dr
    reports = platform.reports.list(dr, world.own.id)
    assert [(r.version, r.restricted) for r in reports] == [(1, True)]
    text = pdf_text(platform.reports.pdf(dr, world.own.id, 1))
    assert world.own.accession in text and "Dr DUPRAZ Denise" in text
    assert "Sérologie VIH 1/2" in text and "negative" in text
    with pytest.raises(Forbidden, match="restricted"):
        platform.reports.pdf(world.bench.reception, world.own.id, 1)  # no tie, no glass broken


def test_result_versions_of_their_order_only_once_signed(world: World) -> None:
    platform, dr, bench = world.platform, world.dr, world.bench
    signed = platform.results.versions(dr, bench.item_id(world.own, "HIV"))
    assert [(s.version, s.status) for s, _reason in signed] == [(1, "validated")]
    assert platform.results.versions(dr, bench.item_id(world.own, "NA")) == []
    assert len(platform.results.versions(bench.technician, bench.item_id(world.own, "NA"))) == 1


def test_every_read_of_the_prescriber_is_audited_with_its_patient(world: World) -> None:
    platform, dr, lab = world.platform, world.dr, world.bench.lab.id
    platform.orders.get(dr, world.own.id)
    platform.reports.pdf(dr, world.own.id, 1)
    platform.patients.get(dr, world.patient.id)
    platform.reports.history(dr, world.patient.id)
    for action in ("order.read", "report.read", "patient.read", "result.cumulative"):
        event = audit_events(platform, lab, action)[-1]
        assert (event.role, event.actor_id, event.patient_id) == (
            "prescriber",
            world.account.id,
            world.patient.id,
        )
    # Their own restricted results are theirs by right: no emergency override is used or audited.
    uses = audit_events(platform, lab, "restricted.override_use")
    assert all(event.actor_id != world.account.id for event in uses)


def test_the_prescriber_never_writes_enters_validates_or_releases(world: World) -> None:
    platform, dr, bench, own = world.platform, world.dr, world.bench, world.own
    na = bench.item_id(own, "NA")
    barcode = own.specimens[0].barcode
    writes: list[Callable[[], Any]] = [
        lambda: platform.orders.create(dr, OrderRequest(patient_id=world.patient.id, tests=("K",))),
        lambda: platform.orders.labels(dr, own.id),
        lambda: platform.patients.register(dr, bench.factory.patient_data()),
        lambda: platform.patients.update(dr, world.patient.id, {"note": "vu en consultation"}),
        lambda: platform.results.enter(dr, [ResultEntry(na, "140")]),
        lambda: platform.results.validate_technical(dr, [na]),
        lambda: platform.results.validate_biological(dr, [na]),
        lambda: platform.results.record_critical_call(dr, na, "Dr Dupraz", "phone"),
        lambda: platform.reports.release(dr, own.id),
        lambda: platform.reports.regenerate(dr, own.id, 1),
        lambda: platform.specimens.receive(dr, barcode),
        lambda: platform.access_log.for_patient(dr, world.patient.id),
        lambda: platform.break_glass.open(
            dataclasses.replace(world.account, reauthenticated_at=utcnow()),
            dr,
            world.patient.id,
            "Urgence: le patient est aux urgences",
        ),
    ]
    for write in writes:
        with pytest.raises(Forbidden):
            write()


def test_restricted_tests_follow_the_tie_to_the_order(world: World) -> None:
    dr = world.dr
    assert sees_restricted(dr, relationship=Relationship.PRESCRIBER)
    assert not sees_restricted(dr)
    assert not sees_restricted(dr, Permission.RESULT_ENTER, Relationship.PRESCRIBER)
    other_physician = dataclasses.replace(dr, physician_id=world.theirs.prescriber_id)
    with pytest.raises(Forbidden, match=OWN_ONLY):
        world.platform.orders.get(other_physician, world.own.id)
    with pytest.raises(Forbidden, match="care only"):
        world.platform.orders.get(dataclasses.replace(dr, purpose=Purpose.IDENTITY_VIGILANCE), world.own.id)
