"""The credential epoch: one counter the database moves whenever anything a token's validity
depends on changes, so that a process may keep resolved tokens in memory and still see a
revocation on the very next request, whichever process made it.

The counter is moved by triggers (migration 0018), not by the code: a token revoked, re-authenticated
or deleted; an account disabled, deleted, or its role, lab, physician, password or second factor
changed; a laboratory crypto-shredded. No path of the code, the CLI's included, can forget it.
Writes that change none of these (a token's "last used" minute, failed-login counts) leave it.
"""

from __future__ import annotations

from sqlalchemy import Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from labvault.store.base import Base

# The columns whose change moves the epoch (the migration's triggers list them).
TOKEN_COLUMNS = ("user_id", "token_hash", "expires_at", "revoked_at", "kind", "reauthenticated_at")
USER_COLUMNS = (
    "lab_id",
    "physician_id",
    "username",
    "password_hash",
    "password_changed_at",
    "role",
    "active",
    "mfa_enabled_at",
)
LAB_COLUMNS = ("shredded_at",)


class CredentialEpoch(Base):
    """A single row (id 1) whose ``epoch`` only grows."""

    __tablename__ = "credential_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)


def current_epoch(session: Session) -> int | None:
    """The epoch as of the session's transaction; None if the row is missing (then nothing may be
    trusted from memory)."""
    return session.scalar(select(CredentialEpoch.epoch).where(CredentialEpoch.id == 1))
