"""Group commit of the reads' audit events (security/audit_group.py): concurrent reads are answered
only once their events are committed, all of them, in chains that verify; a read budget's hard limit
refuses at its threshold under 16 concurrent readers; a read unit writes nothing but its events."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from labvault.identity.lab_service import LabInfo
from labvault.identity.models import User
from labvault.oversight.read_budget import BLOCKED, ReadBudgetExceeded
from labvault.platform import Platform
from labvault.security.access import AccessContext, Role
from labvault.security.audit_group import GroupCommit, group_of
from labvault.security.gate import Gate
from labvault.security.monitor import install
from labvault.security.permissions import Permission
from tests.db_inspect import actor_events, alerts
from tests.factories import Factory

READERS = 16
HARD = 20


def run_together(workers: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` for i in 0..workers-1, each on its own thread, all released at once; each
    returns its value or the exception it raised."""
    start = threading.Barrier(workers)
    outcomes: list[Any] = [None] * workers

    def run(number: int) -> None:
        start.wait()
        try:
            outcomes[number] = work(number)
        except Exception as exc:
            outcomes[number] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def lab(platform: Platform) -> tuple[Factory, LabInfo, list[uuid.UUID]]:
    factory = Factory(platform)
    lab = factory.lab()
    patients = platform.patients.register_many(factory.ctx(lab), [factory.patient_data() for _ in range(64)])
    return factory, lab, patients


@pytest.fixture
def counting_groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every group the commit writes."""
    sizes: list[int] = []
    real = GroupCommit._write

    def spy(self: GroupCommit, group: list[Any]) -> None:
        sizes.append(len(group))
        real(self, group)

    monkeypatch.setattr(GroupCommit, "_write", spy)
    return sizes


def test_concurrent_reads_are_each_in_the_verified_log(
    platform: Platform, lab: tuple[Factory, LabInfo, list[uuid.UUID]], counting_groups: list[int]
) -> None:
    factory, info, patients = lab
    readers = [factory.ctx(info, Role.BIOLOGIST) for _ in range(4)]
    rounds = 5

    def read(number: int) -> list[uuid.UUID]:
        ctx = readers[number % len(readers)]
        asked = [patients[(number * rounds + i) % len(patients)] for i in range(rounds)]
        return [platform.patients.get(ctx, patient_id).id for patient_id in asked]

    outcomes = run_together(READERS, read)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    answered = Counter(patient_id for outcome in outcomes for patient_id in outcome)
    logged: Counter[uuid.UUID] = Counter()
    for ctx in readers:
        logged.update(row.patient_id for row in actor_events(platform, ctx.actor_id, "patient.read"))
    assert logged == answered  # every answered read, once; nothing else
    assert sum(counting_groups) == READERS * rounds
    assert platform.audit.verify().ok


def test_hard_budget_refuses_at_its_threshold_under_concurrent_readers(
    platform: Platform, lab: tuple[Factory, LabInfo, list[uuid.UUID]]
) -> None:
    factory, info, patients = lab
    install(
        platform.db,
        platform.settings.model_copy(
            update={"read_budget_soft": {"reception": 10}, "read_budget_hard": {"reception": HARD}}
        ),
    )
    try:
        reader = factory.ctx(info, Role.RECEPTION)
        per_thread = 3  # 48 distinct patients asked at once, by one account, past a hard limit of 20

        def read(number: int) -> list[Any]:
            results: list[Any] = []
            for i in range(per_thread):
                try:
                    results.append(platform.patients.get(reader, patients[number * per_thread + i]).id)
                except ReadBudgetExceeded as exc:
                    results.append(exc)
            return results

        outcomes = [r for outcome in run_together(READERS, read) for r in outcome]
    finally:
        install(platform.db, platform.settings)
    answered = {r for r in outcomes if isinstance(r, uuid.UUID)}
    refused = [r for r in outcomes if isinstance(r, ReadBudgetExceeded)]
    assert len(answered) == HARD  # exactly the threshold: the group appends one unit after another
    assert len(refused) == READERS * per_thread - HARD
    logged = {row.patient_id for row in actor_events(platform, reader.actor_id, "patient.read")}
    assert logged == answered
    assert [a.kind for a in alerts(platform, actor_id=reader.actor_id) if a.kind == BLOCKED] == [BLOCKED]
    assert platform.audit.verify().ok


def test_a_read_unit_writes_nothing_but_its_events(
    platform: Platform, lab: tuple[Factory, LabInfo, list[uuid.UUID]]
) -> None:
    factory, info, _ = lab
    ctx: AccessContext = factory.ctx(info, Role.BIOLOGIST)
    gate = Gate(platform.db, platform.keys)
    with pytest.raises(DBAPIError), gate.read(ctx, Permission.PATIENT_READ) as unit:
        unit.session.add(User(username=f"x{uuid.uuid4().hex[:8]}", password_hash="x", role="reception"))
        unit.session.flush()


def test_one_group_per_database(platform: Platform) -> None:
    assert group_of(platform.db) is group_of(platform.db)


@pytest.fixture(autouse=True)
def _no_leftover_leader(platform: Platform) -> Iterator[None]:
    yield
    assert not group_of(platform.db)._leading  # every group handed over or finished
