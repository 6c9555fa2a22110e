"""The login rate limit's hits, one row per allowed password-taking request (security/rate_limit.py).

A platform table: no lab, and no address in clear (the origin is a keyed hash; the rows only need
to be told apart). Rows older than the window are pruned: at most ``limit`` rows per origin count.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base


class LoginRateHit(Base):
    __tablename__ = "login_rate_hits"
    __table_args__ = (
        # The check: one origin's hits in the window, newest first. The prune: every expired hit.
        Index("ix_login_rate_hits_origin_at", "origin_mac", "at"),
        Index("ix_login_rate_hits_at", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    origin_mac: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime]
