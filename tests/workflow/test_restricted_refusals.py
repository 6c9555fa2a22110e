"""A refusal never tells a restricted test from an absent one.

Replays the probe of issue 10 (finding 8): a technician's result entry on the HIV item was
refused with a 403 naming the test while its version history answered 404, and the CSV lookup
said "restricted test HIV: entered by a biologist" for the HIV tube but "not ordered on this
tube" for another. Each route now gives, for a restricted item the caller cannot see, the very
error it gives for an item that does not exist (or a test not ordered on that tube)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import pytest

from labvault.errors import Forbidden, InvalidInput, LabvaultError, NotFound
from labvault.identity.accounts import context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Role
from labvault.store.base import utcnow
from labvault.workflow.models import Result
from labvault.workflow.order_data import OrderRecord
from labvault.workflow.result_entry import ResultEntry
from tests.db_inspect import row_count
from tests.factories import Bench

REASON = "Patient aux urgences, médecin de garde au téléphone"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire refus")


def hiv_order(bench: Bench) -> OrderRecord:
    """HIV (restricted, on its own tube) and K, tubes received; HIV entered by the biologist, so
    that every route has a result behind the item it refuses."""
    order = bench.order(tests=["HIV", "K"], clinical_info="suivi PrEP", drugs=("Truvada",))
    bench.enter(order, {"HIV": "negative"}, bench.biologist)
    return order


def refusal(call: Callable[[], object]) -> LabvaultError:
    with pytest.raises(LabvaultError) as caught:
        call()
    return caught.value


def same_refusal(restricted: LabvaultError, absent: LabvaultError, ids: tuple[uuid.UUID, uuid.UUID]) -> None:
    """Same class, same field, same words (an id the caller sent may be echoed back: its own)."""
    assert type(restricted) is type(absent), (restricted, absent)
    assert getattr(restricted, "field", None) == getattr(absent, "field", None)
    assert str(restricted).replace(str(ids[0]), "ID") == str(absent).replace(str(ids[1]), "ID")
    assert "HIV" not in str(restricted) and "restricted" not in str(restricted)


def test_entry_validation_call_and_history_refuse_as_for_an_absent_item(bench: Bench) -> None:
    order = hiv_order(bench)
    hiv, nothing = bench.item_id(order, "HIV"), uuid.uuid4()
    results, tech = bench.platform.results, bench.technician
    before = row_count(bench.platform, Result, lab_id=bench.lab.id)
    calls: dict[str, Callable[[uuid.UUID], object]] = {
        "enter": lambda i: results.enter(tech, [ResultEntry(i, "positive")]),
        "rehearse": lambda i: bench.platform.items.rehearse_entry(tech, [ResultEntry(i, "positive")]),
        "validate": lambda i: results.validate_technical(tech, [i]),
        "critical call": lambda i: results.record_critical_call(tech, i, "Dr Garde, SAU", "phone"),
        "versions": lambda i: results.versions(tech, i),
    }
    for name, call in calls.items():
        restricted, absent = refusal(lambda: call(hiv)), refusal(lambda: call(nothing))  # noqa: B023
        same_refusal(restricted, absent, (hiv, nothing))
        expected = NotFound if name in ("critical call", "versions") else InvalidInput
        assert isinstance(restricted, expected), name
    assert row_count(bench.platform, Result, lab_id=bench.lab.id) == before


def test_a_batch_with_a_restricted_item_is_refused_at_its_position(bench: Bench) -> None:
    order = hiv_order(bench)
    entries = [ResultEntry(bench.item_id(order, "K"), "4.2"), ResultEntry(bench.item_id(order, "HIV"), "x")]
    error = refusal(lambda: bench.platform.results.enter(bench.technician, entries))
    assert isinstance(error, InvalidInput) and error.field == "entries[1].item_id"
    assert bench.item(bench.get(order.id), "K").status == "pending", "all or nothing: K not entered"


def barcodes(order: OrderRecord, code: str) -> tuple[str, str]:
    """The barcode of the tube ``code`` is on, and of another tube of the order."""
    item = next(i for i in order.items if i.test_code == code)
    own = next(s.barcode for s in order.specimens if s.id == item.specimen_id)
    other = next(s.barcode for s in order.specimens if s.id != item.specimen_id)
    return own, other


def test_csv_lookup_says_not_ordered_on_this_tube_for_a_restricted_test(bench: Bench) -> None:
    order = hiv_order(bench)
    own, other = barcodes(order, "HIV")
    items = bench.platform.items
    restricted = refusal(lambda: items.resolve_items(bench.technician, [(own, "HIV")]))
    absent = refusal(lambda: items.resolve_items(bench.technician, [(other, "HIV")]))
    assert isinstance(restricted, InvalidInput) and isinstance(absent, InvalidInput)
    assert (restricted.field, restricted.reason) == (absent.field, absent.reason)
    assert (restricted.field, restricted.reason) == (
        "pairs[0].test_code",
        "this test is not ordered on this tube",
    )
    assert items.resolve_items(bench.biologist, [(own, "HIV")]) == [bench.item_id(order, "HIV")]


def test_who_sees_the_test_through_the_glass_is_told_the_truth(bench: Bench) -> None:
    """The override opens reads only; its holder sees the HIV item, so a refusal may name it."""
    order = hiv_order(bench)
    hiv = bench.item_id(order, "HIV")
    account = bench.factory.user(bench.lab, Role.TECHNICIAN)
    technician: AccessContext = context_for(account)
    fresh = dataclasses.replace(account, reauthenticated_at=utcnow())
    bench.platform.break_glass.open(fresh, technician, order.patient_id, REASON)
    error = refusal(lambda: bench.platform.results.enter(technician, [ResultEntry(hiv, "positive")]))
    assert isinstance(error, Forbidden) and "restricted test HIV: entered by a biologist" in str(error)
    own, _ = barcodes(order, "HIV")
    error = refusal(lambda: bench.platform.items.resolve_items(technician, [(own, "HIV")]))
    assert isinstance(error, Forbidden) and "pairs[0]: restricted test HIV" in str(error)
    error = refusal(lambda: bench.platform.results.validate_technical(technician, [hiv]))
    assert isinstance(error, Forbidden) and "validated by a biologist" in str(error)
