"""Check-then-write sequences under concurrent requests (real threads, both engines)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from labvault.errors import Conflict
from labvault.security.access import Role
from tests.factories import Factory


def race(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls at the same moment; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:  # the outcome is what the test inspects
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_registrations_of_one_nir_make_one_patient(factory: Factory) -> None:
    lab = factory.lab()
    contexts = [factory.ctx(lab, Role.RECEPTION) for _ in range(4)]
    data = factory.patient_data()
    outcomes = race([lambda c=c: factory.platform.patients.register(c, data) for c in contexts])
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(conflicts) == 3, outcomes
    assert len(factory.platform.patients.find_by_nir(contexts[0], data.nir or "")) == 1


def test_concurrent_updates_of_one_revision_one_wins(factory: Factory) -> None:
    lab = factory.lab()
    contexts = [factory.ctx(lab, Role.RECEPTION) for _ in range(3)]
    record = factory.platform.patients.register(contexts[0], factory.patient_data())
    outcomes = race(
        [
            lambda c=c, i=i: factory.platform.patients.update(c, record.id, {"note": f"note {i}"}, 1)
            for i, c in enumerate(contexts)
        ]
    )
    assert sum(isinstance(o, Conflict) for o in outcomes) == 2, outcomes
    assert factory.platform.patients.get(contexts[0], record.id).revision == 2
