"""The login rate limit lives in the database: it slides, refused requests do not count, each origin
has its own budget, and two limiters on one database (two server workers) count as one, even when
their hits race. The in-process limiter it replaces kept the same answers (formerly in
tests/identity/test_lockout.py)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import func, select

from labvault.platform import Platform
from labvault.security.rate_limit import LoginRateLimit
from labvault.security.rate_limit_models import LoginRateHit
from labvault.store.base import utcnow

HITS = LoginRateHit.__table__


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def limiter(platform: Platform, clock: Clock, limit: int = 3) -> LoginRateLimit:
    base = platform.login_limit
    return LoginRateLimit(base.db, base.origin_key, limit, 60, clock)


def origin() -> str:
    """An address no other test of the session uses: the hits are the session database's."""
    return f"198.51.100.{uuid.uuid4().hex[:8]}"


def rows(platform: Platform, limit: LoginRateLimit, address: str) -> int:
    with platform.db.owner_engine.connect() as conn:
        mac = limit.origin_mac(address)
        return int(conn.execute(select(func.count()).where(HITS.c.origin_mac == mac)).scalar_one())


def test_the_window_slides_and_refusals_are_not_counted(platform: Platform) -> None:
    clock = Clock()
    limit = limiter(platform, clock)
    a, b = origin(), origin()
    assert [limit.hit(a) for _ in range(3)] == [None, None, None]
    assert limit.hit(a) == pytest.approx(60)
    assert limit.hit(b) is None, "each origin has its own budget"
    clock.advance(30)
    assert limit.hit(a) == pytest.approx(30), "refused requests are not counted"
    clock.advance(30.5)
    assert limit.hit(a) is None, "the first three left the window"
    assert [limit.hit(a), limit.hit(a)] == [None, None]
    assert limit.hit(a) == pytest.approx(60)


def test_two_limiters_on_one_database_count_as_one(platform: Platform) -> None:
    """What two server workers do: each builds its own limiter on the same database."""
    clock = Clock()
    first, second = limiter(platform, clock, limit=4), limiter(platform, clock, limit=4)
    address = origin()
    answers = [(first if n % 2 else second).hit(address) for n in range(6)]
    assert answers[:4] == [None] * 4
    assert all(answer is not None for answer in answers[4:]), answers


def test_concurrent_hits_from_one_origin_add_up_to_the_limit(platform: Platform) -> None:
    """Many threads (and, in production, processes) at once: exactly ``limit`` get through, not one
    more (the count and the insert are serialised per origin)."""
    limit, address = limiter(platform, Clock(), limit=5), origin()
    answers: list[float | None] = []
    start = threading.Barrier(12)

    def attempt() -> None:
        start.wait()
        answers.append(limit.hit(address))

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 12
    assert answers.count(None) == 5, answers
    assert rows(platform, limit, address) == 5


def test_expired_hits_are_pruned_and_no_address_is_stored(platform: Platform) -> None:
    clock = Clock()
    limit = limiter(platform, clock, limit=2)
    address = origin()
    limit.hit(address)
    limit.hit(address)
    assert rows(platform, limit, address) == 2
    clock.advance(61)
    assert limit.prune(clock()) >= 2
    assert rows(platform, limit, address) == 0, "the table holds one window of traffic"
    limit.hit(address)
    with platform.db.owner_engine.connect() as conn:
        stored = conn.execute(select(HITS.c.origin_mac)).scalars().all()
    assert address not in stored and all(len(mac) == 32 for mac in stored)
