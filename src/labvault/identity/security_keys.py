"""Security keys (WebAuthn) as a second factor: registering one, signing in and re-authenticating
with one instead of the authenticator app's code.

The password is still checked, through the one credential path (lockout, same refusal for every
reason, audit of failures). The key's assertion answers a challenge that is single-use and expires
in two minutes; a login challenge exists for unknown usernames too, with made-up key ids, so asking
for one tells nothing about who has an account or a key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labvault.errors import InvalidInput, NotFound, Unauthenticated
from labvault.identity.accounts import Account, TokenKind
from labvault.identity.credentials import AUTH_FAILED, user_context
from labvault.identity.models import User
from labvault.identity.reauth import require_recent_auth
from labvault.identity.sign_in import IssuedToken, SignInService
from labvault.identity.webauthn_models import AuthChallenge, SecurityKey
from labvault.security import audit
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.webauthn_factor import (
    RelyingParty,
    assertion_credential_id,
    authentication_challenge,
    registration_challenge,
    verify_assertion,
    verify_registration,
)
from labvault.store.base import utcnow
from labvault.store.database import Database

CHALLENGE_TTL = dt.timedelta(minutes=2)
MAX_KEYS = 10
REGISTER, LOGIN, REAUTH = "register", "login", "reauth"


@dataclass(frozen=True)
class Ceremony:
    """What the browser needs (``options_json`` for navigator.credentials) and the id to send back."""

    challenge_id: uuid.UUID
    options_json: str


@dataclass(frozen=True)
class KeyInfo:
    id: uuid.UUID
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


def _info(row: SecurityKey) -> KeyInfo:
    return KeyInfo(row.id, row.label, row.created_at, row.last_used_at)


class SecurityKeyService:
    def __init__(
        self,
        db: Database,
        accounts: SignInService,
        rp: RelyingParty,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.accounts = accounts
        self.rp = rp
        self.clock = clock
        self.gate = Gate(db)

    # --- registration (signed in, recently re-authenticated) -------------------------------------

    def begin_registration(self, account: Account) -> Ceremony:
        require_recent_auth(account, self.accounts.policy.reauth_max_age, self.clock())
        with self.gate.sign_in() as session:
            existing = list(
                session.scalars(select(SecurityKey.credential_id).where(SecurityKey.user_id == account.id))
            )
            if len(existing) >= MAX_KEYS:
                raise InvalidInput("security_key", f"at most {MAX_KEYS} keys per account")
            ceremony = registration_challenge(self.rp, account.id, account.username, existing)
            return self._store(
                session, REGISTER, ceremony.challenge, ceremony.options_json, user_id=account.id
            )

    def finish_registration(
        self,
        account: Account,
        challenge_id: uuid.UUID,
        credential: dict[str, Any],
        label: str,
        origin: str = "local",
    ) -> KeyInfo:
        require_recent_auth(account, self.accounts.policy.reauth_max_age, self.clock())
        label = " ".join(label.split())[:100] or "security key"
        with self.gate.sign_in() as session:
            challenge = self._consume(session, challenge_id, REGISTER, user_id=account.id)
            if challenge is None:
                raise InvalidInput("challenge_id", "unknown, used or expired challenge: start again")
            new = verify_registration(self.rp, credential, challenge)
            if session.scalar(select(SecurityKey.id).where(SecurityKey.credential_id == new.credential_id)):
                raise InvalidInput("credential", "this security key is already registered")
            row = SecurityKey(
                id=uuid.uuid4(),
                user_id=account.id,
                credential_id=new.credential_id,
                public_key=new.public_key,
                sign_count=new.sign_count,
                label=label,
                created_at=self.clock(),
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # the same key registered by a concurrent request
                raise InvalidInput("credential", "this security key is already registered") from None
            ctx = user_context(self._user(session, account.id), origin)
            audit.append(session, ctx, AuditRecord("auth.security_key_add", "security_key", str(row.id)))
            return _info(row)

    def keys(self, account: Account) -> list[KeyInfo]:
        with self.gate.sign_in() as session:
            rows = session.scalars(
                select(SecurityKey).where(SecurityKey.user_id == account.id).order_by(SecurityKey.created_at)
            )
            return [_info(row) for row in rows]

    def remove(self, account: Account, key_id: uuid.UUID, origin: str = "local") -> None:
        require_recent_auth(account, self.accounts.policy.reauth_max_age, self.clock())
        with self.gate.sign_in() as session:
            row = session.get(SecurityKey, key_id)
            if row is None or row.user_id != account.id:
                raise NotFound(f"no security key {key_id}")
            session.delete(row)
            ctx = user_context(self._user(session, account.id), origin)
            audit.append(session, ctx, AuditRecord("auth.security_key_remove", "security_key", str(key_id)))

    # --- signing in and re-authenticating with a key ------------------------------------------------

    def begin_login(self, username: str) -> Ceremony:
        """A challenge for any of the user's (discoverable) keys: the answer names no key and is the
        same whether the username exists, has keys or not. The challenge is bound to the typed
        username, whose key must then answer it."""
        typed = username.strip().lower()[:64]
        with self.gate.sign_in() as session:
            ceremony = authentication_challenge(self.rp, [])
            return self._store(
                session,
                LOGIN,
                ceremony.challenge,
                ceremony.options_json,
                username_hmac=self._pseudonym(typed),
            )

    def finish_login(
        self,
        username: str,
        password: str,
        challenge_id: uuid.UUID,
        credential: dict[str, Any],
        origin: str = "local",
        kind: TokenKind = TokenKind.SESSION,
    ) -> IssuedToken:
        """Password + key assertion for a session token (``kind``: BROWSER from the UI's sign-in
        page); every refusal is the login's 401."""
        typed = username.strip().lower()[:64]
        with self.gate.sign_in() as session:
            challenge = self._consume(session, challenge_id, LOGIN, username_hmac=self._pseudonym(typed))
        return self.accounts.login(
            username, password, "", origin, second_factor=self._assertion(challenge, credential), kind=kind
        )

    def begin_reauth(self, account: Account) -> Ceremony:
        with self.gate.sign_in() as session:
            ids = self._key_ids(session, account.id)
            if not ids:
                raise InvalidInput("security_key", "no security key is registered for this account")
            ceremony = authentication_challenge(self.rp, ids)
            return self._store(session, REAUTH, ceremony.challenge, ceremony.options_json, user_id=account.id)

    def finish_reauth(
        self,
        account: Account,
        password: str,
        challenge_id: uuid.UUID,
        credential: dict[str, Any],
        origin: str = "local",
    ) -> dt.datetime:
        with self.gate.sign_in() as session:
            challenge = self._consume(session, challenge_id, REAUTH, user_id=account.id)
        return self.accounts.reauthenticate(
            account, password, "", origin, second_factor=self._assertion(challenge, credential)
        )

    # --- internals ----------------------------------------------------------------------------------

    def _assertion(
        self, challenge: bytes | None, credential: dict[str, Any]
    ) -> Callable[[Session, User], bool]:
        """The second factor check run by the credential path once the password is known good."""

        def proven(session: Session, user: User) -> bool:
            if challenge is None:
                return False
            try:
                credential_id = assertion_credential_id(credential)
            except InvalidInput:
                return False
            key = session.scalar(
                select(SecurityKey).where(
                    SecurityKey.credential_id == credential_id, SecurityKey.user_id == user.id
                )
            )
            if key is None:
                return False
            try:
                count = verify_assertion(self.rp, credential, challenge, key.public_key, key.sign_count)
            except (Unauthenticated, InvalidInput):
                return False
            # Conditional: two concurrent uses of one assertion cannot both pass.
            moved = session.execute(
                update(SecurityKey)
                .where(SecurityKey.id == key.id, SecurityKey.sign_count == key.sign_count)
                .values(sign_count=count, last_used_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            return bool(moved.rowcount)  # type: ignore[attr-defined]

        return proven

    def _store(
        self,
        session: Session,
        purpose: str,
        challenge: bytes,
        options_json: str,
        *,
        user_id: uuid.UUID | None = None,
        username_hmac: str | None = None,
    ) -> Ceremony:
        now = self.clock()
        # Expired challenges are of no use to anyone: each new one sweeps them (the table stays small).
        session.execute(delete(AuthChallenge).where(AuthChallenge.expires_at < now - CHALLENGE_TTL))
        row = AuthChallenge(
            id=uuid.uuid4(),
            purpose=purpose,
            user_id=user_id,
            username_hmac=username_hmac,
            challenge=challenge,
            expires_at=now + CHALLENGE_TTL,
        )
        session.add(row)
        return Ceremony(row.id, options_json)

    def _consume(
        self,
        session: Session,
        challenge_id: uuid.UUID,
        purpose: str,
        *,
        user_id: uuid.UUID | None = None,
        username_hmac: str | None = None,
    ) -> bytes | None:
        """The challenge bytes, marked used; None if unknown, used, expired or made for another."""
        now = self.clock()
        row = session.get(AuthChallenge, challenge_id)
        if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= now:
            return None
        if row.user_id != user_id or row.username_hmac != username_hmac:
            return None
        used = session.execute(
            update(AuthChallenge)
            .where(AuthChallenge.id == challenge_id, AuthChallenge.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return row.challenge if used.rowcount else None  # type: ignore[attr-defined]

    @staticmethod
    def _key_ids(session: Session, user_id: uuid.UUID) -> list[bytes]:
        return list(session.scalars(select(SecurityKey.credential_id).where(SecurityKey.user_id == user_id)))

    def _pseudonym(self, typed: str) -> str:
        return self.accounts.checker.pseudonym(typed)

    @staticmethod
    def _user(session: Session, user_id: uuid.UUID) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise Unauthenticated(AUTH_FAILED)
        return user
