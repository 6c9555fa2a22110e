"""Unusual access patterns worth a low alert: access outside the lab's working hours, and access
from a network origin the user has not used in the last 30 days."""

from __future__ import annotations

import datetime as dt
import ipaddress

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from labvault.security.access import AccessContext
from labvault.security.alerts import AlertSpec, Severity, raised_here, recent_alert
from labvault.security.audit import flush_held
from labvault.security.models import AuditEvent
from labvault.security.monitor import Monitor, pending_counts

OFF_HOURS = "off_hours"
NEW_ORIGIN = "new_origin"
RECENT_ORIGINS = 200  # how far back a first-seen origin looks for the user's usual network origins
_EVENTS = AuditEvent.__table__


def off_hours_alert(
    session: Session, ctx: AccessContext, monitor: Monitor, now: dt.datetime
) -> AlertSpec | None:
    """Lab-local time outside the working hours and days: one low alert per user per local day."""
    if not monitor.off_hours_alerts or not monitor.off_hours(now):
        return None
    local = now.astimezone(monitor.timezone)
    if monitor.flagged_today(ctx.actor_id, local.date()):
        return None  # known in this process: no query on every request of a night shift
    found = recent_alert(session, ctx.actor_id, [OFF_HOURS], monitor.local_midnight(now))
    if found is not None:
        if not raised_here(session, found):  # committed: safe to remember
            monitor.flag_today(ctx.actor_id, local.date())
        return None
    return AlertSpec(
        OFF_HOURS, Severity.LOW, {"local_time": local.strftime("%a %H:%M"), "timezone": str(local.tzinfo)}
    )


def is_network_origin(origin: str) -> bool:
    """An IP address; not the console ("cli", "local") nor an in-process caller."""
    try:
        ipaddress.ip_address(origin)
    except ValueError:
        return False
    return True


def new_origin_alert(
    session: Session, ctx: AccessContext, monitor: Monitor, now: dt.datetime, batch_at: dt.datetime
) -> AlertSpec | None:
    """A network origin absent from the user's events of the last ``new_origin_days`` days (the
    events being appended, at ``batch_at``, excluded), while their recent events came from another
    network origin. A user's first network origin is their baseline, not an alert; once the
    alert's transaction commits, the origin is known and the alert is not raised again."""
    if not is_network_origin(ctx.origin) or ctx.actor_id is None:
        return None
    key = (ctx.actor_id, ctx.origin)
    pending_counts(session).origins[key] = batch_at  # known once this transaction commits
    known = monitor.origin_seen(*key)
    if known is not None and known >= now - monitor.origin_lookback:
        return None  # committed, within the look-back: no query
    flush_held(session)  # a group's earlier events of this user are in the log before it is read
    parameters = {"actor": ctx.actor_id, "since": now - monitor.origin_lookback, "before": batch_at}
    connection = session.connection()
    if connection.execute(_SEEN, {**parameters, "origin": ctx.origin}).first() is not None:
        return None
    known_origins = {o for o in connection.execute(_RECENT, parameters).scalars() if is_network_origin(o)}
    if not known_origins:
        return None
    # The origin itself is the alert's ``origin`` column.
    return AlertSpec(NEW_ORIGIN, Severity.LOW, {"lookback_days": monitor.origin_lookback.days})


# Built once, run on the session's connection (the audit log is no lab's table; row-level security
# holds it to the transaction's lab on PostgreSQL): the user's events of the look-back, this
# batch's excluded.
_WINDOW = (
    _EVENTS.c.actor_id == bindparam("actor"),
    _EVENTS.c.at >= bindparam("since"),
    _EVENTS.c.at < bindparam("before"),
)
_SEEN = (
    select(_EVENTS.c.at)
    .where(*_WINDOW, _EVENTS.c.origin == bindparam("origin"))
    .order_by(_EVENTS.c.at.desc())
    .limit(1)
)
_RECENT = select(_EVENTS.c.origin).where(*_WINDOW).order_by(_EVENTS.c.at.desc()).limit(RECENT_ORIGINS)
