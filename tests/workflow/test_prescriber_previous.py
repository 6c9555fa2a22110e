"""A result carries the patient's previous value of the same test, which may come from another
physician's order: a prescriber must not read it through their own order (values, versions,
worklist), and a restricted test's previous value is printed only on the same prescriber's report.
Found by review: Dr D read Dr E's HIV result as the "previous" of D's own HIV test."""

from __future__ import annotations

import pytest

from labvault.errors import Forbidden
from labvault.identity.accounts import context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext
from labvault.workflow.order_data import OrderRecord
from tests.factories import Bench
from tests.pdf import pdf_text
from tests.workflow.test_prescriber_access import prescriber_account, registered


def previous_of(platform: Platform, ctx: AccessContext, order: OrderRecord) -> dict[str, object]:
    items = platform.orders.get(ctx, order.id).items
    return {i.test_code: i.result.previous if i.result else None for i in items}


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire antériorités")


def test_another_physicians_result_is_not_the_prescribers_previous(bench: Bench) -> None:
    platform = bench.platform
    dr_d, _ = bench.physician("Dupraz", "Denise")
    dr_e, _ = bench.physician("Estienne", "Eugène")
    dr = context_for(prescriber_account(bench, dr_d))
    patient = registered(bench)
    theirs = bench.order(patient.id, tests=["HIV", "K"], prescriber_id=dr_e)
    bench.enter(theirs, {"HIV": "positive", "K": "6.1"}, bench.biologist)
    bench.validate(theirs, ["HIV", "K"])
    own = bench.order(patient.id, tests=["HIV", "K"], prescriber_id=dr_d)
    bench.enter(own, {"HIV": "negative", "K": "4.1"}, bench.biologist)
    bench.validate(own, ["HIV", "K"])
    platform.reports.release(bench.biologist, own.id)

    with pytest.raises(Forbidden):
        platform.orders.get(dr, theirs.id)
    assert previous_of(platform, dr, own) == {"HIV": None, "K": None}
    assert all(i.result is None or i.result.delta is None for i in platform.orders.get(dr, own.id).items)
    for item in platform.orders.get(dr, own.id).items:
        assert all(summary.previous is None for summary, _ in platform.results.versions(dr, item.id))
    # The lab's biologist still sees both previous values (the delta check is theirs).
    staff_view = previous_of(platform, bench.biologist, own)
    assert staff_view["HIV"] and staff_view["K"]
    # The report (addressed to Dr D) prints the potassium's previous value, as reports do, but not
    # the HIV result of Dr E's order.
    text = pdf_text(platform.reports.pdf(dr, own.id, 1))
    assert "6,1" in text or "6.1" in text
    assert "positi" not in text.lower()


def test_the_prescribers_own_earlier_result_stays_their_previous(bench: Bench) -> None:
    platform = bench.platform
    dr_d, _ = bench.physician("Durand", "Delphine")
    dr = context_for(prescriber_account(bench, dr_d))
    patient = registered(bench)
    first = bench.order(patient.id, tests=["HIV", "K"], prescriber_id=dr_d)
    bench.enter(first, {"HIV": "positive", "K": "6.1"}, bench.biologist)
    bench.validate(first, ["HIV", "K"])
    second = bench.order(patient.id, tests=["HIV", "K"], prescriber_id=dr_d)
    bench.enter(second, {"HIV": "positive", "K": "4.1"}, bench.biologist)
    bench.validate(second, ["HIV", "K"])
    platform.reports.release(bench.biologist, second.id)
    shown = previous_of(platform, dr, second)
    assert shown["HIV"] and shown["K"]
    assert "6,1" in pdf_text(platform.reports.pdf(dr, second.id, 1)).replace("6.1", "6,1")
