"""What account administration and sign-in share: the account as a caller sees it, the access
context it acts in, the kinds of token, and the wiring both services are built on (database, keys,
policy, an injectable clock) with the revocation of every token of an account, which both do (a
role change, a factor reset, a password change)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.models import ApiToken, User
from labvault.keys.store import KeyStore
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.gate import Gate
from labvault.store.base import utcnow
from labvault.store.database import Database


class TokenKind(StrEnum):
    SESSION = "session"  # from an API login: absolute lifetime and idle timeout
    BROWSER = "browser"  # from the UI's login, kept in a cookie: the same, accepted from the cookie only
    SCRIPT = "script"  # POST /tokens, `labvault token create`: absolute lifetime only

    @property
    def signed_in(self) -> bool:
        """A login session (both factors just proven): idle timeout, counts as a re-authentication."""
        return self is not TokenKind.SCRIPT


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    username: str
    role: Role
    lab_id: uuid.UUID | None
    active: bool
    mfa_enabled: bool = False
    physician_id: uuid.UUID | None = None  # a prescriber account's physician
    # Set when authenticated by a token:
    token_id: uuid.UUID | None = None
    token_kind: TokenKind | None = None
    token_expires_at: dt.datetime | None = None
    reauthenticated_at: dt.datetime | None = None  # both factors last proven on this token


def account_of(user: User) -> Account:
    return Account(
        user.id,
        user.username,
        Role(user.role),
        user.lab_id,
        user.active,
        user.mfa_enabled_at is not None,
        user.physician_id,
    )


def context_for(account: Account, purpose: Purpose = Purpose.CARE, origin: str = "local") -> AccessContext:
    """What ``account`` acts as: a prescriber's context names its physician, whose orders it reads."""
    return AccessContext(
        account.id,
        account.username,
        account.role,
        account.lab_id,
        purpose,
        origin,
        physician_id=account.physician_id,
    )


class AccountsBase:
    """The state both account services work with. ``clock`` is injectable so that lockout, code
    steps and session expiry can be tested without sleeping."""

    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        policy: AuthPolicy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.keys = keys
        self.policy = policy or AuthPolicy()
        self.clock = clock
        self.gate = Gate(db, keys)

    def _revoke_all(self, session: Session, user_id: uuid.UUID) -> int:
        result = session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
