"""The per-origin sliding-window limit of the password-taking routes, shared by every server process.

Kept in the database (``login_rate_hits``), not in one process's memory: with ``labvault serve
--workers N`` each worker would otherwise allow ``limit`` attempts, N times the limit in all. One
row per allowed request; a request is refused (and not counted, so a client that waits gets
through) when its origin already has ``limit`` hits in the window. The check and the insert are one
transaction serialised per origin: SQLite's ``BEGIN IMMEDIATE`` takes the one write lock,
PostgreSQL a transaction-scoped advisory lock on the origin, so concurrent attempts from one
address spread over workers still add up to exactly ``limit``.

The per-account lockout (failed password counts, in ``users``) still holds for an attacker who
rotates addresses; this only slows spraying from one address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from labvault.security.gate import Gate
from labvault.security.rate_limit_models import LoginRateHit
from labvault.store.base import utcnow
from labvault.store.database import Database

log = logging.getLogger(__name__)

_HITS: Table = LoginRateHit.__table__  # type: ignore[assignment]
# The platform key that hashes origins (derived from the root key): no address in clear in the table.
ORIGIN_KEY_PURPOSE = "login-rate-origin-v1"
# pg_advisory_xact_lock(class, key): this class is the login limit's ("LVRL"), the key the origin's.
ADVISORY_CLASS = 0x4C56524C


class LoginRateLimit:
    """At most ``limit`` password-taking requests per origin per ``window_seconds``."""

    def __init__(
        self,
        db: Database,
        origin_key: bytes,
        limit: int,
        window_seconds: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit and window must be positive")
        self.db, self.origin_key = db, origin_key
        self.limit = limit
        self.window = dt.timedelta(seconds=window_seconds)
        self.clock = clock
        self.gate = Gate(db)
        # Housekeeping only (when this process last deleted expired rows): no decision reads it.
        self._pruned_at: dt.datetime | None = None

    def configured(self, limit: int, window_seconds: float) -> LoginRateLimit:
        """The same limit (database, key, clock) with other bounds."""
        return LoginRateLimit(self.db, self.origin_key, limit, window_seconds, self.clock)

    def origin_mac(self, origin: str) -> str:
        return hmac.new(self.origin_key, origin.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def hit(self, origin: str) -> float | None:
        """Count one request from ``origin``: None if allowed, else the seconds until one is."""
        now = self.clock()
        mac = self.origin_mac(origin)
        with self.gate.sign_in() as session:
            _serialise(session, mac)
            recent: list[dt.datetime] = list(
                session.scalars(
                    select(_HITS.c.at)
                    .where(_HITS.c.origin_mac == mac, _HITS.c.at > now - self.window)
                    .order_by(_HITS.c.at.desc())
                    .limit(self.limit)
                )
            )
            if len(recent) >= self.limit:
                # When the oldest of the last ``limit`` hits leaves the window, one more fits.
                return max((recent[-1] + self.window - now).total_seconds(), 0.001)
            session.execute(insert(_HITS).values(id=uuid.uuid4(), origin_mac=mac, at=now))
        if self._pruned_at is None or now - self._pruned_at >= self.window:
            self._pruned_at = now
            self.prune(now)
        return None

    def prune(self, now: dt.datetime) -> int:
        """Delete the hits that left the window (every origin's): the table stays as small as the
        traffic of one window. Never raises: a failure is logged and retried a window later."""
        try:
            with self.gate.sign_in() as session:
                result = session.execute(delete(_HITS).where(_HITS.c.at <= now - self.window))
                return int(cast(CursorResult[Any], result).rowcount)
        except SQLAlchemyError:
            log.warning("could not prune the login rate limit's expired hits", exc_info=True)
            return 0


def _serialise(session: Session, mac: str) -> None:
    """Make the count and the insert atomic per origin. SQLite: nothing to do, every transaction
    already holds the one write lock (``BEGIN IMMEDIATE``, store/engine.py). PostgreSQL: a lock on
    the origin until the transaction ends (other origins are not held up)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(mac[:8]), "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(ADVISORY_CLASS, key)))
