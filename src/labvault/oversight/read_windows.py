"""The per-user budget's longer windows (an hour, a day) and its rate signal.

A slow scraper stays under a 10-minute budget by pausing (the probe of issue 10 read 990 patients
in 12.6 s, twice, 13 minutes apart). Longer windows catch it; counting a day of a technician's
events on every read would not be cheap, so they are counted incrementally. Every patient a user
touched since an exact count of a longer window is in their short-window count while that count is
younger than the short window, and the short count is exact and taken on every counted read
anyway: ``last count + short count`` bounds the longer count from above, in every process (events
of a lab are appended under its chain head's lock, and stamped after taking it: an event committed
after the count is later than it). A window is counted again only when that bound could pass a
threshold that matters: the hard one at once (never passed), the soft one at most every
:data:`SOFT_RECHECK` per user and window per process, and not once the window's soft alert exists.
So a user far under their thresholds pays a longer window's count about once per short window.

The rate signal: more than ``read_rate_per_minute`` distinct patients opened one by one (any
counted event but a worklist's lines) in a minute is a program, not a person: one **high**
``read_rate`` alert per user per short window. It is counted only when the short window's count
(an upper bound of it) is over the rate and the batch opens a record, at most every
:data:`RATE_RECHECK` per user per process (the alert may come that much later; the budgets, not
the alert, refuse), and not once the alert exists.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labvault.oversight.read_counts import NOT_RATED, counted_patients, distinct_patients
from labvault.security.access import AccessContext
from labvault.security.alert_models import Alert
from labvault.security.alerts import AlertSpec, Severity
from labvault.security.audit import AuditRecord
from labvault.security.monitor import Monitor, Window, WindowCount, pending_counts

RATE = "read_rate"
RATE_SPAN = dt.timedelta(minutes=1)
# How late a longer window's soft alert (medium) may come: a user whose bound hovers over soft
# (last count + short count counts the short window's patients twice) would otherwise pay a count
# on nearly every read.
SOFT_RECHECK = dt.timedelta(seconds=30)
RATE_RECHECK = dt.timedelta(seconds=5)  # how late the rate's alert may come, for the same reason


def soft_kind(window: Window) -> str:
    """The soft alert of a longer window: ``read_budget_hour``, ``read_budget_day``."""
    return f"read_budget_{window.name}"


def window_detail(count: int, threshold: int, span: dt.timedelta, name: str, role: str) -> dict[str, Any]:
    minutes = int(span.total_seconds() // 60)
    return {
        "distinct_patients": count,
        "threshold": threshold,
        "window": name,
        "window_minutes": minutes,
        "role": role,
    }


def check_windows(
    session: Session, ctx: AccessContext, monitor: Monitor, now: dt.datetime, recent: int
) -> tuple[list[AlertSpec], dict[str, Any] | None]:
    """Soft alerts of the longer windows and, past a hard threshold, the refusal's detail (the
    caller raises it). ``recent``: the user's exact count over the short window, this batch in."""
    assert ctx.actor_id is not None
    alerts: list[AlertSpec] = []
    role = ctx.role.value
    for window in monitor.windows:
        budget = window.budget(role)
        key = (ctx.actor_id, window.name)
        known = pending_counts(session).windows.get(key) or monitor.window_count(*key)
        bound = known.bound(recent, now, monitor.window) if known is not None else None
        quiet = known is not None and known.quiet(now)
        if known is not None and bound is not None:
            hard_due = bound > budget.hard
            soft_due = not quiet and bound > budget.soft and now - known.at >= SOFT_RECHECK
            if not (hard_due or soft_due):
                continue
        count = distinct_patients(session, ctx, now - window.span, budget.hard + 1)
        if count > budget.hard:
            return alerts, window_detail(count, budget.hard, window.span, window.name, role)
        quiet_until = known.quiet_until if known is not None and quiet else None
        if count > budget.soft and not quiet:
            last = last_alert_at(session, ctx.actor_id, soft_kind(window), now - window.span)
            if last is None:
                detail = window_detail(count, budget.soft, window.span, window.name, role)
                alerts.append(AlertSpec(soft_kind(window), Severity.MEDIUM, detail))
                last = now
            quiet_until = last + window.span
        pending_counts(session).windows[key] = WindowCount(count, now, quiet_until)
    return alerts, None


def check_rate(
    session: Session,
    ctx: AccessContext,
    records: Sequence[AuditRecord],
    monitor: Monitor,
    now: dt.datetime,
    recent: int,
) -> AlertSpec | None:
    """The rate signal's high alert, if this batch opens records and the user opened more than the
    rate in the last minute (once per user per short window)."""
    assert ctx.actor_id is not None
    limit = monitor.rate_per_minute
    if limit is None or recent <= limit or not counted_patients(records, NOT_RATED):
        return None  # the short count bounds the minute's: under the rate, nothing to count
    key = (ctx.actor_id, RATE)
    known = pending_counts(session).windows.get(key) or monitor.window_count(*key)
    if known is not None and (known.quiet(now) or known.at <= now < known.at + RATE_RECHECK):
        return None
    count = distinct_patients(session, ctx, now - RATE_SPAN, limit + 1, NOT_RATED)
    if count <= limit:
        pending_counts(session).windows[key] = WindowCount(count, now)
        return None
    last = last_alert_at(session, ctx.actor_id, RATE, now - monitor.window)
    pending_counts(session).windows[key] = WindowCount(count, now, (last or now) + monitor.window)
    if last is not None:
        return None  # raised already in this window (by another process, or before a restart)
    detail = {
        "distinct_patients": count,
        "threshold": limit,
        "window_seconds": int(RATE_SPAN.total_seconds()),
    }
    return AlertSpec(RATE, Severity.HIGH, {**detail, "role": ctx.role.value})


def last_alert_at(session: Session, actor_id: uuid.UUID, kind: str, since: dt.datetime) -> dt.datetime | None:
    """When this user's latest alert of ``kind`` since ``since`` was raised, if any."""
    query = select(func.max(Alert.at)).where(
        Alert.actor_id == actor_id, Alert.kind == kind, Alert.at >= since
    )
    return session.scalar(query)
