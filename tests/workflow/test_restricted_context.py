"""An order's clinical context (clinical information, prescribed drugs) carries the rules of its
restricted tests: "suivi PrEP" and "Truvada" tell of an HIV test as surely as the test itself.

Replays the probe of issue 10 (finding 8): on an order holding an HIV test, the technician,
reception and support saw ``clinical_info`` and ``drugs``. Now only those who see the restricted
tests see them (biologists, the order's prescriber, someone who broke the glass for the patient),
in the order view and in the patient's list of orders alike."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from labvault.identity.accounts import Account, context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.base import utcnow
from labvault.workflow.order_data import OrderRecord
from tests.db_inspect import audit_events
from tests.factories import Bench
from tests.workflow.test_prescriber_access import prescriber_account

CLINICAL = "suivi PrEP"
DRUGS = ("Truvada",)
REASON = "Patient aux urgences, médecin de garde au téléphone"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire contexte clinique")


def prep_order(bench: Bench, prescriber_id: uuid.UUID | None = None) -> OrderRecord:
    """The probe's order: an HIV test (restricted) beside a potassium, with its PrEP context."""
    return bench.order(
        tests=["HIV", "K"],
        clinical_info=CLINICAL,
        drugs=DRUGS,
        fasting=True,
        prescriber_id=prescriber_id,
    )


def support_ctx(bench: Bench) -> AccessContext:
    """A platform operator inside the lab under a lab admin's support grant (maintenance)."""
    admin = dataclasses.replace(bench.factory.user(bench.lab, Role.LAB_ADMIN), reauthenticated_at=utcnow())
    operator = bench.factory.user(None, Role.PLATFORM_OPERATOR)
    bench.platform.support.grant(admin, context_for(admin), operator.username, 2, "Ticket 77: doublons")
    return bench.platform.support.enter(context_for(operator, Purpose.MAINTENANCE), bench.lab.id)


def assert_withheld(record: OrderRecord) -> None:
    assert record.hidden_items == 1 and {i.test_code for i in record.items} == {"K"}
    assert record.clinical_info is None and record.drugs == ()
    assert record.clinical_context_withheld


def assert_shown(record: OrderRecord) -> None:
    assert record.hidden_items == 0 and "HIV" in {i.test_code for i in record.items}
    assert (record.clinical_info, record.drugs) == (CLINICAL, DRUGS)
    assert not record.clinical_context_withheld


def test_technician_reception_and_support_see_no_clinical_context(bench: Bench) -> None:
    order = prep_order(bench)
    for ctx in (bench.technician, bench.reception, support_ctx(bench)):
        seen = bench.platform.orders.get(ctx, order.id)
        assert_withheld(seen)
        assert seen.fasting is True, "a collection condition, kept: it tells nothing of the hidden test"
        (listed,) = bench.platform.orders.for_patient(ctx, order.patient_id)
        assert_withheld(listed)


def test_the_biologist_sees_the_clinical_context(bench: Bench) -> None:
    order = prep_order(bench)
    assert_shown(bench.platform.orders.get(bench.biologist, order.id))
    (listed,) = bench.platform.orders.for_patient(bench.biologist, order.patient_id)
    assert_shown(listed)


def test_the_orders_prescriber_sees_it_with_their_restricted_tests(bench: Bench) -> None:
    physician, _ = bench.physician("Prévost", "Paule")
    dr = context_for(prescriber_account(bench, physician))
    order = prep_order(bench, prescriber_id=physician)
    assert_shown(bench.platform.orders.get(dr, order.id))
    (listed,) = bench.platform.orders.for_patient(dr, order.patient_id)
    assert_shown(listed)


def test_an_order_without_restricted_test_keeps_its_context_for_staff(bench: Bench) -> None:
    order = bench.order(tests=["K", "GLU"], clinical_info="bilan pré-opératoire", drugs=("Kardegic",))
    for ctx in (bench.technician, bench.reception):
        seen = bench.platform.orders.get(ctx, order.id)
        assert (seen.clinical_info, seen.drugs) == ("bilan pré-opératoire", ("Kardegic",))
        assert not seen.clinical_context_withheld and seen.hidden_items == 0


def test_breaking_the_glass_shows_it_to_that_person_for_that_patient(bench: Bench) -> None:
    order = prep_order(bench)
    other = prep_order(bench)
    account: Account = bench.factory.user(bench.lab, Role.TECHNICIAN)
    technician = context_for(account)
    assert_withheld(bench.platform.orders.get(technician, order.id))
    fresh = dataclasses.replace(account, reauthenticated_at=utcnow())
    bench.platform.break_glass.open(fresh, technician, order.patient_id, REASON)
    assert_shown(bench.platform.orders.get(technician, order.id))
    assert_withheld(bench.platform.orders.get(technician, other.id))  # another patient: closed
    assert_withheld(bench.platform.orders.get(bench.technician, order.id))  # another person: closed
    uses = audit_events(bench.platform, bench.lab.id, "restricted.override_use")
    assert str(order.id) in {e.object_id for e in uses}, "the context was read through the glass"
