"""Signing in and tokens: both factors (Argon2id password, then a TOTP code or a security key) for a
login session that expires when idle, a re-authentication for sensitive actions, the owner's own
password (the first one replacing the one they were given, and later changes), script tokens
(stored hashed) and their revocation. A refused sign-in says :data:`AUTH_FAILED` whatever the
reason (identity/credentials.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labvault.errors import InvalidInput, NotFound, Unauthenticated
from labvault.identity import account_events
from labvault.identity.accounts import Account, AccountsBase, TokenKind, account_of, context_for
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.credential_epoch import current_epoch
from labvault.identity.credentials import (
    AUTH_FAILED,
    Check,
    CredentialChecker,
    SecondFactor,
    Verified,
    find_user,
    may_sign_in,
    user_context,
)
from labvault.identity.mfa_service import MfaService
from labvault.identity.models import ApiToken, User
from labvault.identity.token_cache import TokenCache
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.audit import AuditRecord
from labvault.security.passwords import check_password_policy, hash_password
from labvault.security.tokens import display_prefix, new_token, token_digest
from labvault.store.base import utcnow
from labvault.store.database import Database


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    token: str
    expires_at: dt.datetime
    kind: TokenKind = TokenKind.SCRIPT


class SignInService(AccountsBase):
    """Sign-in, the owner's own password, tokens; the TOTP enrolment (``mfa``) proves the password
    through the same credential checks."""

    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        policy: AuthPolicy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(db, keys, policy, clock)
        self.tokens = TokenCache()
        self.checker = CredentialChecker(keys, self.policy, clock)
        self.mfa = MfaService(db, self.checker, self.policy)

    # --- signing in -------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, totp_code: str, origin: str = "local") -> Account:
        """Both factors, for the CLI (which then issues what it needs). Same refusal for every
        reason: see :mod:`labvault.identity.credentials`."""
        with self.gate.sign_in() as session:
            verified = self._sign_in(session, username, password, totp_code, origin)
            account = None if verified is None else account_of(verified.user)
        if account is None:
            raise Unauthenticated(AUTH_FAILED)
        return account

    def login(
        self,
        username: str,
        password: str,
        totp_code: str,
        origin: str = "local",
        second_factor: SecondFactor | None = None,
        kind: TokenKind = TokenKind.SESSION,
    ) -> IssuedToken:
        """Both factors for a session token: absolute lifetime, idle timeout, and counted as a
        fresh authentication for the first minutes (no re-authentication needed right away).
        ``second_factor`` (a security key's assertion) replaces the code; ``kind``: BROWSER for the
        UI's cookie."""
        if not kind.signed_in:
            raise ValueError("a login gives a login session, not a script token")
        with self.gate.sign_in() as session:
            verified = self._sign_in(session, username, password, totp_code, origin, second_factor)
            issued = None
            if verified is not None:
                issued = self._insert_token(
                    session,
                    account_of(verified.user),
                    "login",
                    verified.at + self.policy.session_lifetime,
                    kind,
                    origin,
                    now=verified.at,
                )
        if issued is None:
            raise Unauthenticated(AUTH_FAILED)
        return issued

    def _sign_in(
        self,
        session: Session,
        username: str,
        password: str,
        totp_code: str,
        origin: str,
        second_factor: SecondFactor | None = None,
    ) -> Verified | None:
        user = find_user(session, username)
        if user is not None and user.role == Role.INTERFACE.value:
            user = None  # a connection, not a person: it never signs in (interop/), refused alike
        verified = self.checker.check(
            session, user, username, password, totp_code, Check.LOGIN, origin, second_factor
        )
        if verified is not None:
            ctx = user_context(verified.user, origin)
            audit.append(session, ctx, AuditRecord("auth.login", "user", str(verified.user.id)))
        return verified

    def reauthenticate(
        self,
        account: Account,
        password: str,
        totp_code: str,
        origin: str = "local",
        second_factor: SecondFactor | None = None,
    ) -> dt.datetime:
        """Both factors again, stamped on the caller's token: sensitive actions
        (:func:`labvault.identity.reauth.require_recent_auth`) accept it for a few minutes."""
        if account.token_id is None:
            raise Unauthenticated("re-authentication applies to a token")
        with self.gate.sign_in() as session:
            user = session.get(User, account.id, with_for_update=True)
            verified = self.checker.check(
                session, user, account.username, password, totp_code, Check.REAUTH, origin, second_factor
            )
            if verified is not None:
                session.execute(
                    update(ApiToken)
                    .where(ApiToken.id == account.token_id)
                    .values(reauthenticated_at=verified.at)
                )
                audit.append(
                    session,
                    user_context(verified.user, origin),
                    AuditRecord("auth.reauthenticated", "token", str(account.token_id)),
                )
        if verified is None:
            raise Unauthenticated(AUTH_FAILED)
        return verified.at

    def set_own_password(
        self,
        username: str,
        given_password: str,
        new_password: str,
        totp_code: str | None = None,
        origin: str = "local",
    ) -> None:
        """The one use of a password someone else set (the account's creator): its owner replaces
        it with their own. No code for a new account (its factor is enrolled next, with the new
        password); the current code for an account that has one. Refused like any sign-in
        (:data:`AUTH_FAILED`) otherwise, e.g. once the password is the owner's already."""
        try:
            check_password_policy(new_password)
        except InvalidInput as exc:
            raise InvalidInput("new_password", exc.reason) from None
        if new_password == given_password:
            raise InvalidInput("new_password", "choose your own password, not the one you were given")
        new_hash = hash_password(new_password)
        with self.gate.sign_in() as session:
            user = find_user(session, username)
            verified = self.checker.check(
                session, user, username, given_password, totp_code, Check.INITIAL_PASSWORD, origin
            )
            if verified is not None:
                session.execute(
                    update(User)
                    .where(User.id == verified.user.id)
                    .values(password_hash=new_hash, password_changed_at=verified.at, password_temporary=False)
                    .execution_options(synchronize_session=False)
                )
                revoked = self._revoke_all(session, verified.user.id)
                audit.append(
                    session,
                    user_context(verified.user, origin),
                    AuditRecord(
                        "user.password_set", "user", str(verified.user.id), {"tokens_revoked": revoked}
                    ),
                )
        if verified is None:
            raise Unauthenticated(AUTH_FAILED)

    def change_password(
        self,
        account: Account,
        current_password: str,
        totp_code: str,
        new_password: str,
        origin: str = "local",
    ) -> int:
        """The user changes their own password, proving both factors. Every token of theirs is
        revoked, the caller's included: whoever held one must sign in with the new password.
        Returns the number of tokens revoked."""
        try:
            check_password_policy(new_password)
        except InvalidInput as exc:
            raise InvalidInput("new_password", exc.reason) from None
        with self.gate.sign_in() as session:
            user = session.get(User, account.id, with_for_update=True)
            verified = self.checker.check(
                session, user, account.username, current_password, totp_code, Check.PASSWORD_CHANGE, origin
            )
            revoked = 0
            if verified is not None:
                session.execute(
                    update(User)
                    .where(User.id == account.id)
                    .values(
                        password_hash=hash_password(new_password),
                        password_changed_at=verified.at,
                        password_temporary=False,
                    )
                    .execution_options(synchronize_session=False)
                )
                revoked = self._revoke_all(session, account.id)
                audit.append(
                    session,
                    user_context(verified.user, origin),
                    AuditRecord("user.password_change", "user", str(account.id), {"tokens_revoked": revoked}),
                )
        if verified is None:
            raise Unauthenticated(AUTH_FAILED)
        return revoked

    # --- tokens -----------------------------------------------------------------------------------

    def issue_token(
        self, account: Account, label: str, ttl: dt.timedelta, origin: str = "local"
    ) -> IssuedToken:
        """A new script token for ``account`` (the caller has authenticated it): absolute lifetime
        only. A token minted with a token never outlives it: a stolen 8-hour token cannot become a
        one-year one."""
        if not dt.timedelta(minutes=1) <= ttl <= dt.timedelta(days=365):
            raise InvalidInput("ttl", "must be between one minute and one year")
        now = self.clock()
        expires_at = now + ttl
        if account.token_expires_at is not None:
            expires_at = min(expires_at, account.token_expires_at)
        with self.gate.sign_in() as session:
            return self._insert_token(session, account, label, expires_at, TokenKind.SCRIPT, origin, now=now)

    def _insert_token(
        self,
        session: Session,
        account: Account,
        label: str,
        expires_at: dt.datetime,
        kind: TokenKind,
        origin: str,
        *,
        now: dt.datetime,
    ) -> IssuedToken:
        token = new_token()
        session_kind = kind.signed_in
        row = ApiToken(
            id=uuid.uuid4(),
            user_id=account.id,
            token_hash=token_digest(token),
            prefix=display_prefix(token),
            label=" ".join(label.split())[:100] or "token",
            created_at=now,
            expires_at=expires_at,
            kind=kind.value,
            last_used_at=now if session_kind else None,
            reauthenticated_at=now if session_kind else None,
        )
        session.add(row)
        session.flush()
        ctx = context_for(account, Purpose.ADMINISTRATION, origin)
        audit.append(session, ctx, AuditRecord("token.create", "token", str(row.id), {"kind": kind.value}))
        return IssuedToken(row.id, token, expires_at, kind)

    def resolve_token(self, token: str) -> Account:
        """The account behind a valid, unexpired, unrevoked token of an active user; login
        sessions also expire after :attr:`AuthPolicy.session_idle` without use.

        Read-only: one row (the credential epoch) when this process resolved the token before
        and nothing it depends on changed since (identity/token_cache.py); the token, account and
        lab otherwise. "Last used" is written at most every :attr:`AuthPolicy.touch_interval`."""
        if not token.startswith("lvt_") or len(token) > 100:
            raise Unauthenticated("invalid token")
        now = self.clock()
        digest = token_digest(token)
        with self.gate.sign_in(read_only=True) as session:
            epoch = current_epoch(session)  # before the rows: a change committed after moves it
            cached = self.tokens.get(digest, epoch)
            if cached is not None and self._usable(cached.account, cached.last_used, now):
                account, last_used = cached.account, cached.last_used
            else:
                account, last_used = self._resolve(session, digest, now)
                self.tokens.put(digest, account, last_used, epoch)
        if now - last_used >= self.policy.touch_interval:
            self._touch(digest, account, now)
        return account

    def _usable(self, account: Account, last_used: dt.datetime, now: dt.datetime) -> bool:
        """Unexpired and, for a login session, not idle as far as this process knows (another
        process may have seen a later use: then it is read again before any refusal)."""
        if account.token_expires_at is None or account.token_expires_at <= now:
            return False
        return not self._idle(account.token_kind, last_used, now)

    def _idle(self, kind: TokenKind | None, last_used: dt.datetime, now: dt.datetime) -> bool:
        """A login session unused for longer than :attr:`AuthPolicy.session_idle` (script tokens
        have no idle timeout)."""
        return kind is not None and kind.signed_in and now - last_used > self.policy.session_idle

    def _resolve(self, session: Session, digest: bytes, now: dt.datetime) -> tuple[Account, dt.datetime]:
        row = session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest)
        ).first()
        if row is None:
            raise Unauthenticated("invalid token")
        api_token, user = row
        if api_token.revoked_at is not None or api_token.expires_at <= now or not may_sign_in(session, user):
            raise Unauthenticated("token expired or revoked")
        kind = TokenKind(api_token.kind)
        if self._idle(kind, api_token.last_used_at or api_token.created_at, now):
            raise Unauthenticated("session expired after a period without use: log in again")
        account = dataclasses.replace(
            account_of(user),
            token_id=api_token.id,
            token_kind=kind,
            token_expires_at=api_token.expires_at,
            reauthenticated_at=api_token.reauthenticated_at,
        )
        return account, api_token.last_used_at or dt.datetime.min.replace(tzinfo=dt.UTC)

    def _touch(self, digest: bytes, account: Account, now: dt.datetime) -> None:
        """Note the token's use (to the minute: the idle timeout's clock)."""
        with self.gate.sign_in() as session:
            session.execute(update(ApiToken).where(ApiToken.id == account.token_id).values(last_used_at=now))
        self.tokens.used(digest, now)

    def revoke_token(self, ctx: AccessContext, token_id: uuid.UUID) -> None:
        """A user revokes their own tokens; admins those of their lab's users; an operator any
        (incident response), which the owner's lab sees on its chain and as a high alert."""
        with self.gate.lookup() as session:
            row = session.execute(
                select(User.id, User.lab_id)
                .join(ApiToken, User.id == ApiToken.user_id)
                .where(ApiToken.id == token_id)
            ).first()
        if row is None:
            raise NotFound(f"no token {token_id}")
        owner_id, owner_lab = row.id, row.lab_id
        own = owner_id == ctx.actor_id
        admin = ctx.role is Role.LAB_ADMIN and owner_lab == ctx.lab_id
        if not (own or admin or ctx.role is Role.PLATFORM_OPERATOR):
            raise NotFound(f"no token {token_id}")
        with self.gate.named_lab(ctx, owner_lab) as session:
            session.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=self.clock()))
            event = AuditRecord("token.revoke", "token", str(token_id), {"user_id": str(owner_id)})
            if owner_lab is None or own:
                audit.append(session, ctx, event)
            else:
                account_events.record(session, ctx, owner_lab, event, None)
