"""The read marks count what the audit log holds: for every reader, window and kind of count, the
number of marks equals the distinct patients of the log's counted events (the count the budgets
read from the log before the marks), and the upgrade that adds them rebuilds them from the log."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import delete, func, select

from labvault import schema
from labvault.oversight.read_budget import lab_patients
from labvault.oversight.read_counts import NOT_COUNTED, NOT_RATED, distinct_patients, distinct_query
from labvault.oversight.read_mark_models import ReadMark
from labvault.platform import Platform
from labvault.security import audit
from labvault.security.access import AccessContext, Role
from labvault.security.audit import AuditRecord
from labvault.security.models import AuditEvent
from labvault.store.migrate import alembic_config
from tests.security.budget_world import World, budget_world

WINDOWS = [dt.timedelta(minutes=1), dt.timedelta(minutes=10), dt.timedelta(hours=1), dt.timedelta(days=1)]
GENEROUS = {role.value: 100_000 for role in Role}


@pytest.fixture
def world(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    settings: dict[str, object] = {}
    for window in ("", "hour_", "day_"):
        settings[f"read_budget_{window}soft"] = GENEROUS
        settings[f"read_budget_{window}hard"] = {role: 2 * n for role, n in GENEROUS.items()}
    settings |= {
        "read_rate_per_minute": 100_000,
        "lab_read_budget_soft": 100_000,
        "lab_read_budget_hard": 200_000,
    }
    yield from budget_world(platform, monkeypatch, 40, settings)


def log_count(world: World, ctx: AccessContext, since: dt.datetime, excluded: frozenset[str]) -> int:
    with world.platform.db.transaction(world.lab.id) as session:
        query = distinct_query(ctx, since, 1_000, excluded)
        return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def lab_log_count(world: World, since: dt.datetime) -> int:
    events = AuditEvent.__table__
    query = (
        select(events.c.patient_id)
        .where(
            events.c.lab_id == world.lab.id,
            events.c.at >= since,
            events.c.patient_id.is_not(None),
            events.c.action.not_in(NOT_COUNTED),
        )
        .distinct()
    )
    with world.platform.db.owner_engine.connect() as conn:
        return len(conn.execute(query).all())


def read_at_random(world: World, readers: list[AccessContext], reads: int, seed: int) -> None:
    """Reads of single records, and worklists (counted, not opened) appended through the audit
    log's one entry point, hours apart or seconds apart, by several readers."""
    rng = random.Random(seed)
    platform = world.platform
    for _ in range(reads):
        world.clock.advance(seconds=rng.choice([1, 5, 30, 200, 900, 4000]))
        ctx = rng.choice(readers)
        patient_id = rng.choice(world.patients)
        if rng.random() < 0.8:
            platform.patients.get(ctx, patient_id)
        else:
            lines = rng.sample(world.patients, rng.randint(1, 5))
            with platform.db.transaction(world.lab.id) as session:
                records = [AuditRecord("worklist.read", "worklist", None, patient_id=p) for p in lines]
                audit.append_many(session, ctx, records)


def test_marks_count_what_the_log_counts(world: World) -> None:
    readers = [world.reader(), world.reader(Role.BIOLOGIST), world.reader(Role.TECHNICIAN)]
    read_at_random(world, readers, 120, seed=7)
    now = world.clock()
    for ctx in readers:
        for span in WINDOWS:
            since = now - span
            with world.platform.db.transaction(world.lab.id) as session:
                counted = distinct_patients(session, ctx, since, 1_000)
                opened = distinct_patients(session, ctx, since, 1_000, NOT_RATED)
            assert counted == log_count(world, ctx, since, NOT_COUNTED), (ctx.role, span)
            assert opened == log_count(world, ctx, since, NOT_RATED), (ctx.role, span)
    for span in WINDOWS:
        with world.platform.db.transaction(world.lab.id) as session:
            marked = lab_patients(session, world.lab.id, now - span, None)
        assert marked == lab_log_count(world, now - span), span


def test_upgrade_rebuilds_the_marks_of_the_last_day(
    fresh_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    world_iter = budget_world(fresh_platform, monkeypatch, 12, {})
    world = next(world_iter)
    ctx = world.reader()
    for patient_id in world.patients[:6]:
        world.clock.advance(seconds=20)
        fresh_platform.patients.get(ctx, patient_id)
    with fresh_platform.db.transaction(world.lab.id) as session:
        before = distinct_patients(session, ctx, world.clock() - dt.timedelta(hours=1), 1_000)
        session.execute(delete(ReadMark))
        assert distinct_patients(session, ctx, world.clock() - dt.timedelta(hours=1), 1_000) == 0
    assert before == 6
    config = alembic_config(fresh_platform.db.url)
    fresh_platform.db.dispose()
    command.downgrade(config, "0016")
    schema.upgrade(fresh_platform.db.url)  # as `labvault init` does: grants and policies too
    fresh_platform.db.dispose()
    with fresh_platform.db.transaction(world.lab.id) as session:
        assert distinct_patients(session, ctx, world.clock() - dt.timedelta(hours=1), 1_000) == 6
        assert lab_patients(session, world.lab.id, world.clock() - dt.timedelta(hours=1), None) == 6
    next(world_iter, None)
