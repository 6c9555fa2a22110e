"""Staff accounts and API tokens: individual accounts only, Argon2id passwords, hashed tokens."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from labvault.identity.models import ApiToken, Lab, User
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import LAB_ROLES, AccessContext, Purpose, Role
from labvault.security.audit import AuditRecord
from labvault.security.passwords import hash_password, verify_password
from labvault.security.permissions import Permission, require
from labvault.security.tokens import display_prefix, new_token, token_digest
from labvault.store.base import utcnow
from labvault.store.database import Database

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")
# Operators hold no standing access to patient data: they may only give a new lab its first
# administrator, who then creates the lab's staff accounts.
OPERATOR_BOOTSTRAP_ONLY = (
    "a platform operator only creates a laboratory's first administrator; "
    "staff accounts are created by that administrator"
)
GENERIC_NAMES = frozenset(
    {"admin", "root", "user", "test", "guest", "labo", "accueil", "secretariat", "shared"}
)


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    username: str
    role: Role
    lab_id: uuid.UUID | None
    active: bool
    token_expires_at: dt.datetime | None = None  # set when authenticated by a token


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    token: str
    expires_at: dt.datetime


def _account(user: User) -> Account:
    return Account(user.id, user.username, Role(user.role), user.lab_id, user.active)


def _may_sign_in(session: Session, user: User) -> bool:
    """Active account, and its laboratory (if any) not crypto-shredded."""
    if not user.active:
        return False
    if user.lab_id is None:
        return True
    lab = session.get(Lab, user.lab_id)
    return lab is not None and lab.shredded_at is None


def context_for(account: Account, purpose: Purpose = Purpose.CARE, origin: str = "local") -> AccessContext:
    return AccessContext(account.id, account.username, account.role, account.lab_id, purpose, origin)


class AccountService:
    def __init__(self, db: Database, keys: KeyStore) -> None:
        self.db = db
        self.keys = keys

    def create_user(
        self,
        ctx: AccessContext,
        username: str,
        password: str,
        role: Role,
        lab_id: uuid.UUID | None,
        full_name: str | None = None,
    ) -> Account:
        """An individual account. Generic/shared names are refused (the 2021 leak had them)."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput(
                "username", "3-64 lowercase letters, digits, '.', '_' or '-', starting with a letter"
            )
        if username in GENERIC_NAMES:
            raise InvalidInput("username", "generic or shared account names are not allowed")
        if role is Role.PLATFORM_OPERATOR:
            require(ctx, Permission.PLATFORM_USERS_MANAGE)
            if lab_id is not None:
                raise InvalidInput("lab", "a platform operator belongs to no laboratory")
        else:
            require(ctx, Permission.LAB_USERS_MANAGE)
            if lab_id is None:
                raise InvalidInput("lab", f"a {role.value} account needs a laboratory")
            if ctx.role is not Role.PLATFORM_OPERATOR and ctx.lab_id != lab_id:
                raise NotFound(f"no laboratory {lab_id}")
            if ctx.role is Role.PLATFORM_OPERATOR and role is not Role.LAB_ADMIN:
                raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
        if role not in (*LAB_ROLES, Role.PLATFORM_OPERATOR):
            raise InvalidInput("role", "unknown role")
        password_hash = hash_password(password)
        with self.db.transaction(None) as session:
            if lab_id is not None:
                lab = session.get(Lab, lab_id)
                if lab is None or lab.shredded_at is not None:
                    raise NotFound(f"no laboratory {lab_id}")
                if ctx.role is Role.PLATFORM_OPERATOR and session.scalar(
                    select(User.id).where(User.lab_id == lab_id, User.role == Role.LAB_ADMIN, User.active)
                ):
                    raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
            if session.scalar(select(User.id).where(User.username == username)):
                raise Conflict(f"username {username!r} is taken")
            user = User(
                id=uuid.uuid4(), lab_id=lab_id, username=username, password_hash=password_hash, role=role
            )
            if lab_id is not None:
                cipher = self.keys.keyset(session, lab_id).cipher
                user.full_name_enc = cipher.encrypt("users", "full_name_enc", user.id, full_name or None)
            session.add(user)
            session.flush()
            audit.append(session, ctx, AuditRecord("user.create", "user", str(user.id), {"role": role.value}))
            return _account(user)

    def authenticate_password(self, username: str, password: str, origin: str = "local") -> Account:
        """Same error and same Argon2 work whether the user is unknown or the password wrong."""
        with self.db.transaction(None) as session:
            user = session.scalar(select(User).where(User.username == username.strip().lower()))
            ok = verify_password(user.password_hash if user else None, password)
            if not ok or user is None or not _may_sign_in(session, user):
                raise Unauthenticated("invalid username or password")
            account = _account(user)
            audit.append(
                session,
                context_for(account, Purpose.ADMINISTRATION, origin),
                AuditRecord("auth.login", "user", str(user.id)),
            )
            return account

    def issue_token(
        self, account: Account, label: str, ttl: dt.timedelta, origin: str = "local"
    ) -> IssuedToken:
        """A new bearer token for ``account`` (the caller has authenticated it). A token minted
        with a token never outlives it: a stolen 8-hour token cannot become a one-year one."""
        if not dt.timedelta(minutes=1) <= ttl <= dt.timedelta(days=365):
            raise InvalidInput("ttl", "must be between one minute and one year")
        label = " ".join(label.split())[:100] or "token"
        token = new_token()
        expires_at = utcnow() + ttl
        if account.token_expires_at is not None:
            expires_at = min(expires_at, account.token_expires_at)
        with self.db.transaction(None) as session:
            row = ApiToken(
                id=uuid.uuid4(),
                user_id=account.id,
                token_hash=token_digest(token),
                prefix=display_prefix(token),
                label=label,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            ctx = context_for(account, Purpose.ADMINISTRATION, origin)
            audit.append(session, ctx, AuditRecord("token.create", "token", str(row.id)))
        return IssuedToken(row.id, token, expires_at)

    def resolve_token(self, token: str) -> Account:
        """The account behind a valid, unexpired, unrevoked token of an active user."""
        if not token.startswith("lvt_") or len(token) > 100:
            raise Unauthenticated("invalid token")
        with self.db.transaction(None) as session:
            row = session.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == token_digest(token))
            ).first()
            if row is None:
                raise Unauthenticated("invalid token")
            api_token, user = row
            expires_at = api_token.expires_at
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=dt.UTC)
            if api_token.revoked_at is not None or expires_at <= utcnow() or not _may_sign_in(session, user):
                raise Unauthenticated("token expired or revoked")
            return dataclasses.replace(_account(user), token_expires_at=expires_at)

    def revoke_token(self, ctx: AccessContext, token_id: uuid.UUID) -> None:
        """A user revokes their own tokens; admins those of their lab's users."""
        with self.db.transaction(None) as session:
            row = session.execute(
                select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.id == token_id)
            ).first()
            if row is None:
                raise NotFound(f"no token {token_id}")
            _token, owner = row
            own = owner.id == ctx.actor_id
            admin = ctx.role is Role.LAB_ADMIN and owner.lab_id == ctx.lab_id
            if not (own or admin or ctx.role is Role.PLATFORM_OPERATOR):
                raise NotFound(f"no token {token_id}")
            session.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=utcnow()))
            audit.append(session, ctx, AuditRecord("token.revoke", "token", str(token_id)))

    def by_username(self, username: str) -> Account:
        with self.db.transaction(None) as session:
            user = session.scalar(select(User).where(User.username == username.strip().lower()))
            if user is None:
                raise NotFound(f"no user {username!r}")
            return _account(user)
