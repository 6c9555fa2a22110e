"""When the server signs the audit heads: after N events or T seconds, whichever first, and on stop.

A fake clock drives the schedule (no thread): each test states exactly when a checkpoint is due.
"""

from __future__ import annotations

from labvault.security.access import Role
from labvault.security.checkpoint_schedule import CheckpointSchedule
from tests.factories import Factory
from tests.security.test_audit_tamper import as_entry, chain_rows, drop_append_only_guards, rewrite, touch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def schedule(factory: Factory, clock: Clock, reports: list[str], events: int = 3) -> CheckpointSchedule:
    platform = factory.platform
    return CheckpointSchedule(
        platform.db, platform.audit, interval=60, events=events, report=reports.append, clock=clock
    )


def signed(factory: Factory, chain: str) -> int:
    state = factory.platform.audit.signed_state()
    assert state is not None
    return state.chains[chain].checkpoint.size


def test_due_after_n_events_or_the_interval(factory: Factory) -> None:
    lab = factory.lab()
    staff = factory.ctx(lab, Role.BIOLOGIST)
    clock, reports = Clock(), []
    checkpoints = schedule(factory, clock, reports)
    assert checkpoints.tick()  # at start: whatever came before is signed now
    assert not checkpoints.tick()  # nothing new, interval not reached

    touch(factory, staff, 1)  # 2 events (a create, a read): below 3
    clock.now += 59
    assert not checkpoints.tick()
    size = signed(factory, str(lab.id))

    touch(factory, staff, 1)  # 4 events since the last signature: past 3
    assert checkpoints.tick()
    assert signed(factory, str(lab.id)) == size + 4

    clock.now += 59
    assert not checkpoints.tick()
    clock.now += 1  # a minute without events: signed anyway (a fresh manifest for the witnesses)
    assert checkpoints.tick()
    assert reports == [] and checkpoints.signed == 3


def test_stop_signs_what_is_left(factory: Factory) -> None:
    lab = factory.lab()
    staff = factory.ctx(lab, Role.BIOLOGIST)
    clock, reports = Clock(), []
    checkpoints = schedule(factory, clock, reports, events=1000)
    checkpoints.start()
    touch(factory, staff, 2)
    assert checkpoints.stop()
    with factory.platform.db.owner_engine.connect() as conn:
        assert signed(factory, str(lab.id)) == len(chain_rows(conn, str(lab.id)))
    assert reports == []


def test_a_refused_checkpoint_is_reported_and_the_schedule_goes_on(fresh_factory: Factory) -> None:
    """A truncated signed log: refused (never blessed), reported, not raised, retried later."""
    lab = fresh_factory.lab()
    staff = fresh_factory.ctx(lab, Role.BIOLOGIST)
    touch(fresh_factory, staff, 2)
    clock, reports = Clock(), []
    checkpoints = schedule(fresh_factory, clock, reports)
    assert checkpoints.tick()
    with fresh_factory.platform.db.owner_engine.begin() as conn:
        drop_append_only_guards(conn)
        rows = chain_rows(conn, str(lab.id))
        rewrite(conn, str(lab.id), [as_entry(row) for row in rows[:-1]])  # head recomputed too
    touch(fresh_factory, staff, 2)  # 4 new events: due, but the log no longer extends the signed one
    assert not checkpoints.tick()
    assert len(reports) == 1 and "audit checkpoint refused" in reports[0], reports
    assert not checkpoints.tick() and len(reports) == 1  # retried at the next interval, not each poll
    clock.now += 60
    assert not checkpoints.tick() and len(reports) == 2
    assert not checkpoints.stop() and "at shutdown refused" in reports[-1]
