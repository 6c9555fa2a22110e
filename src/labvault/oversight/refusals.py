"""Refused requests, audited: who asked for which id on which route and was refused (403, 404, 429).

A lab user probing another lab's ids gets 404s that tell them nothing; the lab's security officer
must still see the probing. Each refusal of an authenticated caller becomes an ``access.refused``
event on the caller's own chain (their lab's; the platform chain for an operator), naming the
route template, the method, the status and the ids asked for (path parameters: ids only, never a
value a person typed). A refusal does not say whether the id exists in another lab: a 404 is the
same for an unknown id and another lab's.

Cheap to make, so cheap to bound: per account, at most one event per route and target a minute
(:data:`COALESCE`) and at most ``refusal_events_per_minute`` events a minute; what is not written is
counted and carried by the account's next event (``unrecorded``). Counting is per process. Past
``refusal_alert_count`` refusals (403 and 404, written or not) within ``refusal_alert_minutes``, one
high ``refusal_probing`` alert for the account's lab (one per account per window).

Unauthenticated requests (401) are not recorded here: there is no account to attribute them to,
recording them would give anyone a free way to fill the log, and sign-in failures are audited where
they happen (identity/sign_in.py) under the per-origin login limit.

Recording never changes the answer: any failure is logged and the refusal is returned as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labvault.config import Settings
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.alerts import AlertSpec, Severity, raise_alert, recent_alert
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.store.base import utcnow
from labvault.store.database import Database

log = logging.getLogger(__name__)

REFUSED = "access.refused"
PROBING = "refusal_probing"
BUDGET_STATUS = 429  # read budgets raise their own alerts: not counted as probing
COALESCE = dt.timedelta(minutes=1)
MINUTE = dt.timedelta(minutes=1)
MAX_ACCOUNTS = 10_000  # accounts a process keeps counts for (then it forgets them all)
MAX_KEYS = 1_000  # route+target pairs remembered per account (older ones dropped first)
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Refusal:
    """One refused request: the route template (``/api/v1/patients/{patient_id}``), not the URL."""

    method: str
    route: str
    status: int
    target: Mapping[str, str] = field(default_factory=dict)


def target_of(params: Mapping[str, Any]) -> dict[str, str]:
    """The ids a request asked for, from its path parameters: a UUID or an integer as such, any other
    short token of safe characters as sent, anything else withheld (it could be typed text)."""
    found: dict[str, str] = {}
    for name, value in params.items():
        text = str(value)
        try:
            found[name] = str(uuid.UUID(text))
            continue
        except ValueError:
            pass
        found[name] = text if _SAFE_VALUE.match(text) else "<withheld>"
    return found


@dataclass
class _Account:
    """What one process remembers of one account's refusals."""

    times: deque[dt.datetime]  # the latest refusals counted towards the probing alert
    minute_start: dt.datetime
    written: int = 0  # events written in the current minute
    unrecorded: int = 0  # refusals not written since the account's last event
    last_event: dict[tuple[str, str, str], dt.datetime] = field(default_factory=dict)
    alerted_until: dt.datetime | None = None


@dataclass(frozen=True)
class _Decision:
    write: bool
    unrecorded: int
    probing: int  # refusals in the window when the probing threshold is reached, else 0


class RefusalService:
    """Records refusals and raises the probing alert; one per application (its counts in memory)."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self.clock = clock
        self.gate = Gate(db)
        self.alert_count = settings.refusal_alert_count
        self.window = dt.timedelta(minutes=settings.refusal_alert_minutes)
        self.per_minute = settings.refusal_events_per_minute
        self._accounts: dict[tuple[uuid.UUID | None, str], _Account] = {}
        self._lock = threading.Lock()

    def record(self, ctx: AccessContext, refusal: Refusal) -> None:
        """Audit ``refusal`` (unless coalesced) and alert on probing. Never raises: the caller's
        answer is the refusal whatever happens here."""
        try:
            now = (self.clock or utcnow)()
            decision = self._decide(ctx, refusal, now)
            if decision.write or decision.probing:
                self._write(ctx, refusal, decision, now)
        except Exception:
            log.exception("could not audit a refused request (%s %s)", refusal.method, refusal.route)

    def _decide(self, ctx: AccessContext, refusal: Refusal, now: dt.datetime) -> _Decision:
        key = (refusal.method, refusal.route, repr(sorted(refusal.target.items())))
        with self._lock:
            account = self._account(ctx, now)
            probing = 0
            if refusal.status != BUDGET_STATUS:
                account.times.append(now)
                reached = len(account.times) == self.alert_count and account.times[0] >= now - self.window
                quiet = account.alerted_until is not None and now < account.alerted_until
                if reached and not quiet:
                    probing = len(account.times)
                    account.alerted_until = now + self.window
            if now - account.minute_start >= MINUTE:
                account.minute_start, account.written = now, 0
            last = account.last_event.get(key)
            if (last is not None and now - last < COALESCE) or account.written >= self.per_minute:
                account.unrecorded += 1
                return _Decision(False, 0, probing)
            if len(account.last_event) >= MAX_KEYS:
                del account.last_event[next(iter(account.last_event))]  # the oldest
            account.last_event.pop(key, None)
            account.last_event[key] = now
            account.written += 1
            unrecorded, account.unrecorded = account.unrecorded, 0
            return _Decision(True, unrecorded, probing)

    def _account(self, ctx: AccessContext, now: dt.datetime) -> _Account:
        who = (ctx.actor_id, ctx.actor_label)
        account = self._accounts.get(who)
        if account is None:
            if len(self._accounts) >= MAX_ACCOUNTS:
                self._accounts.clear()
            account = _Account(deque(maxlen=self.alert_count), now)
            self._accounts[who] = account
        return account

    def _write(self, ctx: AccessContext, refusal: Refusal, decision: _Decision, now: dt.datetime) -> None:
        """The event on the caller's chain, and the probing alert, in a transaction of their own
        (the refused request's own transaction, if any, has rolled back)."""
        with self.gate.own_chain(ctx) as session:
            if decision.write:
                audit.append(session, ctx, _event(refusal, decision.unrecorded))
            if decision.probing and ctx.lab_id is not None:
                since = now - self.window
                if recent_alert(session, ctx.actor_id, [PROBING], since) is None:
                    detail = {
                        "refusals": decision.probing,
                        "threshold": self.alert_count,
                        "window_minutes": int(self.window.total_seconds() // 60),
                        "route": refusal.route,
                    }
                    raise_alert(session, ctx, AlertSpec(PROBING, Severity.HIGH, detail), at=now)


def _event(refusal: Refusal, unrecorded: int) -> AuditRecord:
    """Names the first id asked for as the event's object (``patient_id`` -> a ``patient``), never
    as the event's patient: a refused request read no one, and counts in no read budget."""
    name, value = next(iter(refusal.target.items()), ("route", None))
    detail: dict[str, Any] = {
        "route": refusal.route,
        "method": refusal.method,
        "status": refusal.status,
        "target": dict(refusal.target),
    }
    if unrecorded:
        detail["unrecorded"] = unrecorded
    return AuditRecord(REFUSED, name.removesuffix("_id"), value, detail)
