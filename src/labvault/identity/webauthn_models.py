"""Security keys (WebAuthn credentials) and the single-use challenges of their ceremonies."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, utcnow


class SecurityKey(Base):
    """A user's registered authenticator: a public key and its signature counter, nothing secret."""

    __tablename__ = "security_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary())
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AuthChallenge(Base):
    """A ceremony challenge: used once, before it expires, for the purpose and user it was made for.

    Login challenges are made before anyone is authenticated: they name the typed username only by
    a keyed hash, and exist for unknown usernames too (so they reveal nothing)."""

    __tablename__ = "auth_challenges"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    username_hmac: Mapped[str | None] = mapped_column(String(32), default=None)
    challenge: Mapped[bytes] = mapped_column(LargeBinary(64))
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
