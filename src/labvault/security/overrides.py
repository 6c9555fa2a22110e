"""Ending someone's break-the-glass overrides before they expire: when their rights change (role
change, deactivation), an emergency access opened under the old rights does not outlive them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session

from labvault.security.grant_models import AccessOverride
from labvault.store.database import declared_lab


def end_overrides_of(session: Session, user_id: uuid.UUID, lab_id: uuid.UUID, now: dt.datetime) -> int:
    """Expire every open override of ``user_id`` in ``lab_id`` now; the number ended. Called from
    account changes, in a platform transaction: the lab is declared around the statement."""
    with declared_lab(session, lab_id):
        result = session.execute(
            update(AccessOverride)
            .where(
                AccessOverride.lab_id == lab_id,
                AccessOverride.actor_id == user_id,
                AccessOverride.expires_at > now,
            )
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
