"""Staff accounts, sign-in and API tokens: individual accounts only, Argon2id passwords, mandatory
TOTP, hashed tokens; login sessions that expire when idle; tokens revoked when rights change."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from labvault.identity import account_events
from labvault.identity.account_action_models import ActionKind
from labvault.identity.account_actions import AccountAction, lab_has_established_admin, take_due
from labvault.identity.account_events import AccountAlert
from labvault.identity.auth_policy import AuthPolicy
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
from labvault.identity.models import ApiToken, Lab, Physician, User
from labvault.identity.user_codec import seal_full_name
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import LAB_ACCOUNT_ROLES, LAB_ROLES, AccessContext, Purpose, Role
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.overrides import end_overrides_of
from labvault.security.passwords import check_password_policy, hash_password
from labvault.security.permissions import Permission
from labvault.security.policy import require, require_lab_object
from labvault.security.tokens import display_prefix, new_token, token_digest
from labvault.store.base import utcnow
from labvault.store.database import Database

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")
LAST_ESTABLISHED_ADMIN = (
    "this is the laboratory's last active administrator with a second factor: an operator may not "
    "disable them (the lab would no longer see nor stop what the platform does to its accounts); "
    "the laboratory's other administrators can"
)
FACTOR_ONLY_OWNER_HOLDS = (
    "this account's owner never replaced the password they were given: after a factor reset, whoever "
    "knows that password could enrol in their place; disable the account and create a new one"
)
# Operators hold no standing access to patient data: they may only give a new lab its first
# administrator, who then creates the lab's staff accounts.
OPERATOR_BOOTSTRAP_ONLY = (
    "a platform operator only creates a laboratory's first administrator; "
    "staff accounts are created by that administrator"
)
GENERIC_NAMES = frozenset(
    {"admin", "root", "user", "test", "guest", "labo", "accueil", "secretariat", "shared"}
)
PHYSICIAN_HAS_ACCOUNT = "this physician already has an active prescriber account"


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


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    token: str
    expires_at: dt.datetime
    kind: TokenKind = TokenKind.SCRIPT


def _account(user: User) -> Account:
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


def _check_physician(role: Role, physician_id: uuid.UUID | None) -> None:
    """A prescriber account is one physician's; no other account names one."""
    if role is Role.PRESCRIBER and physician_id is None:
        raise InvalidInput("physician_id", "a prescriber account is a physician's: name the physician")
    if role is not Role.PRESCRIBER and physician_id is not None:
        raise InvalidInput("physician_id", "only a prescriber account names a physician")


def _physician_has_account(session: Session, physician_id: uuid.UUID, but: uuid.UUID | None = None) -> bool:
    """Whether another active account already acts for this physician."""
    query = select(User.id).where(User.physician_id == physician_id, User.active.is_(True))
    if but is not None:
        query = query.where(User.id != but)
    return session.scalar(query.limit(1)) is not None


class AccountService:
    """Accounts, sign-in and tokens. ``clock`` is injectable so that lockout, code steps and session
    expiry can be tested without sleeping."""

    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        policy: AuthPolicy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.keys = keys
        self.policy = policy or AuthPolicy()
        self.clock = clock
        self.checker = CredentialChecker(keys, self.policy, clock)
        self.mfa = MfaService(db, self.checker, self.policy)
        self.gate = Gate(db, keys)

    def create_user(
        self,
        ctx: AccessContext,
        username: str,
        password: str,
        role: Role,
        lab_id: uuid.UUID | None,
        full_name: str | None = None,
        physician_id: uuid.UUID | None = None,
    ) -> Account:
        """An individual account. Generic/shared names are refused (the 2021 leak had them).

        A prescriber account (``role`` prescriber) acts for ``physician_id``, a physician of the
        same lab with no other active account; only that lab's admin creates one."""
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
            require_lab_object(ctx, lab_id, f"laboratory {lab_id}")
            if ctx.role is Role.PLATFORM_OPERATOR and role is not Role.LAB_ADMIN:
                raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
        if role not in (*LAB_ACCOUNT_ROLES, Role.PLATFORM_OPERATOR):
            raise InvalidInput("role", "unknown role")
        _check_physician(role, physician_id)
        password_hash = hash_password(password)
        if lab_id is not None:
            # Usernames are unique across the platform: checked where every account is visible,
            # since the lab's transaction below (row-level security) sees only its own lab's.
            with self.gate.lookup() as session:
                if session.scalar(select(User.id).where(User.username == username)):
                    raise Conflict(f"username {username!r} is taken")
        # A lab's account is made in the lab's own transaction: its physician is looked up in the
        # lab's scope (one of another lab is as absent as one that does not exist), and the event
        # and its alert land on the lab's chain, where its admins see them.
        with self.gate.named_lab(ctx, lab_id) as session:
            if lab_id is not None:
                lab = session.get(Lab, lab_id)
                if lab is None or lab.shredded_at is not None:
                    raise NotFound(f"no laboratory {lab_id}")
                # Only a lab's FIRST administrator, ever: an operator that could add one after
                # disabling the real one (or finding them disabled) would own the lab.
                if ctx.role is Role.PLATFORM_OPERATOR and session.scalar(
                    select(User.id).where(User.lab_id == lab_id, User.role == Role.LAB_ADMIN).limit(1)
                ):
                    raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
            if session.scalar(select(User.id).where(User.username == username)):
                raise Conflict(f"username {username!r} is taken")
            detail: dict[str, object] = {"role": role.value}
            if physician_id is not None:
                if session.get(Physician, physician_id) is None:
                    raise NotFound(f"no physician {physician_id} in this laboratory")
                if _physician_has_account(session, physician_id):
                    raise Conflict(PHYSICIAN_HAS_ACCOUNT)
                detail["physician"] = str(physician_id)
            user = User(
                id=uuid.uuid4(),
                lab_id=lab_id,
                username=username,
                password_hash=password_hash,
                # Chosen by the creator: it works once, for the owner to set their own.
                password_temporary=True,
                role=role,
                physician_id=physician_id,
            )
            if lab_id is not None:
                keys = self.keys.keyset(session, lab_id)
                user.full_name_enc = seal_full_name(keys, user.id, full_name or None)
            session.add(user)
            try:
                session.flush()
            except IntegrityError as exc:
                # A race the checks above lost: the same username created meanwhile (or, from a
                # lab's transaction, taken in a lab it cannot see), or another account for the same
                # physician (the unique index of active ones lets one through).
                if "username" in str(exc.orig):
                    raise Conflict(f"username {username!r} is taken") from None
                raise Conflict(PHYSICIAN_HAS_ACCOUNT) from None
            event = AuditRecord("user.create", "user", str(user.id), detail)
            if lab_id is None:
                audit.append(session, ctx, event)
            else:
                account_events.record(session, ctx, lab_id, event, AccountAlert.CREATED, {"role": role.value})
            return _account(user)

    def update_user(
        self, ctx: AccessContext, user_id: uuid.UUID, *, role: Role | None = None, active: bool | None = None
    ) -> Account:
        """Change a user's role or (de)activate them. Any change revokes every token of theirs and
        ends their open break-the-glass overrides: a demoted or disabled person keeps no session
        nor emergency access opened with the old rights."""
        if role is None and active is None:
            raise InvalidInput("body", "nothing to change: give a role, or active")
        lab_id = self._lab_of_account(ctx, user_id)
        with self.gate.named_lab(ctx, lab_id) as session:
            user = session.get(User, user_id, with_for_update=True)
            self._authorize_management(ctx, user, user_id, changes_role=role is not None)
            assert user is not None
            if (
                active
                and ctx.role is Role.PLATFORM_OPERATOR
                and Role(user.role) is not Role.PLATFORM_OPERATOR
            ):
                # Disabling a lab account is incident response; enabling one is the lab's decision.
                raise Forbidden("an operator may disable a laboratory account, not enable one")
            if user.id == ctx.actor_id:
                raise Forbidden(
                    "you cannot change your own role or deactivate yourself: ask another administrator"
                )
            if (
                active is False
                and ctx.role is Role.PLATFORM_OPERATOR
                and user.lab_id is not None
                and user.active
                and Role(user.role) is Role.LAB_ADMIN
                and lab_has_established_admin(session, user.lab_id)
                and not lab_has_established_admin(session, user.lab_id, but=user.id)
            ):
                # Otherwise the operator could silence the lab, then reset at once what waits.
                raise Conflict(LAST_ESTABLISHED_ADMIN)
            changes: dict[str, object] = {}
            if role is not None and role.value != user.role:
                if Role.PRESCRIBER in (role, Role(user.role)):
                    raise InvalidInput(
                        "role",
                        "a prescriber account stays a physician's and staff accounts never become one: "
                        "create the other account instead",
                    )
                if role not in LAB_ROLES or Role(user.role) is Role.PLATFORM_OPERATOR:
                    raise InvalidInput("role", "a laboratory account keeps a laboratory role")
                changes["role"] = role.value
            if active is not None and active != user.active:
                if (
                    active
                    and user.physician_id is not None
                    and _physician_has_account(session, user.physician_id, but=user.id)
                ):
                    raise Conflict(PHYSICIAN_HAS_ACCOUNT)
                changes["active"] = active
            if changes:
                try:
                    session.execute(
                        update(User)
                        .where(User.id == user.id)
                        .values(**changes)
                        .execution_options(synchronize_session=False)
                    )
                except IntegrityError:  # another account of the physician enabled meanwhile
                    raise Conflict(PHYSICIAN_HAS_ACCOUNT) from None
                revoked = self._revoke_all(session, user.id)
                detail = {**changes, "tokens_revoked": revoked}
                event = AuditRecord("user.update", "user", str(user.id), detail)
                if user.lab_id is None:
                    audit.append(session, ctx, event)
                else:
                    # Emergency accesses opened under the old rights end with them.
                    ended = end_overrides_of(session, user.id, user.lab_id, self.clock())
                    detail |= {"overrides_ended": ended} if ended else {}
                    alert = (
                        AccountAlert.REENABLED
                        if changes.get("active") is True
                        else AccountAlert.ROLE_CHANGED
                        if "role" in changes
                        else None
                    )
                    account_events.record(session, ctx, user.lab_id, event, alert, changes)
                session.refresh(user)
            return _account(user)

    def reset_mfa(self, ctx: AccessContext, user_id: uuid.UUID) -> AccountAction | None:
        """Forget a user's TOTP secret (lost phone) and revoke their tokens: they enrol again with
        their own password (never one someone else set: the resetter cannot enrol in their place).
        Lab admins reset their staff; operators only operators and lab admins, and a lab admin's
        only after a delay the lab can use to cancel it, once the lab has an established admin:
        then the pending request is returned and nothing is reset yet (None: done)."""
        lab_id = self._lab_of_account(ctx, user_id)
        with self.gate.named_lab(ctx, lab_id) as session:
            user = session.get(User, user_id, with_for_update=True)
            self._authorize_management(ctx, user, user_id, changes_role=False, resets_mfa=True)
            assert user is not None
            if user.password_temporary and user.mfa_enabled_at is not None:
                # An account from before 0012: its factor is the one thing only its owner holds.
                raise Conflict(FACTOR_ONLY_OWNER_HOLDS)
            if (
                user.lab_id is not None
                and ctx.role is Role.PLATFORM_OPERATOR
                and lab_has_established_admin(session, user.lab_id)
            ):
                pending = take_due(
                    session, ctx, user, ActionKind.MFA_RESET, self.clock(), self.policy.platform_action_delay
                )
                if pending is not None:
                    return pending
            session.execute(
                update(User)
                .where(User.id == user.id)
                .values(totp_secret_sealed=None, mfa_enabled_at=None, totp_last_step=None)
                .execution_options(synchronize_session=False)
            )
            revoked = self._revoke_all(session, user.id)
            event = AuditRecord("auth.mfa_reset", "user", str(user.id), {"tokens_revoked": revoked})
            if user.lab_id is None:
                audit.append(session, ctx, event)
            else:
                account_events.record(session, ctx, user.lab_id, event, AccountAlert.FACTOR_RESET)
            return None

    def _lab_of_account(self, ctx: AccessContext, user_id: uuid.UUID) -> uuid.UUID | None:
        """The lab whose transaction manages this account (None: an operator's account). Another
        lab's account is as absent as one that does not exist."""
        with self.gate.lookup() as session:
            found = session.execute(select(User.lab_id).where(User.id == user_id)).first()
        if found is None:
            raise NotFound(f"no user {user_id}")
        lab_id: uuid.UUID | None = found.lab_id
        require_lab_object(ctx, lab_id, f"user {user_id}")
        return lab_id

    @staticmethod
    def _authorize_management(
        ctx: AccessContext,
        user: User | None,
        user_id: uuid.UUID,
        *,
        changes_role: bool,
        resets_mfa: bool = False,
    ) -> None:
        """Lab admins manage their own lab's accounts; operators manage operators, and for lab
        accounts may only disable them (incident response) or reset a lab admin's MFA (recovery):
        never take over a lab's staff."""
        if user is None:
            raise NotFound(f"no user {user_id}")
        if Role(user.role) is Role.PLATFORM_OPERATOR:
            if ctx.role is not Role.PLATFORM_OPERATOR:
                raise NotFound(f"no user {user_id}")
            require(ctx, Permission.PLATFORM_USERS_MANAGE)
            if changes_role:
                raise InvalidInput("role", "a platform operator keeps the platform operator role")
            return
        require(ctx, Permission.LAB_USERS_MANAGE)
        if ctx.role is Role.PLATFORM_OPERATOR:
            if changes_role or (resets_mfa and Role(user.role) is not Role.LAB_ADMIN):
                raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
        elif ctx.lab_id != user.lab_id:
            raise NotFound(f"no user {user_id}")

    # --- signing in -------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, totp_code: str, origin: str = "local") -> Account:
        """Both factors, for the CLI (which then issues what it needs). Same refusal for every
        reason: see :mod:`labvault.identity.credentials`."""
        with self.gate.sign_in() as session:
            verified = self._sign_in(session, username, password, totp_code, origin)
            account = None if verified is None else _account(verified.user)
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
                    _account(verified.user),
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
        sessions also expire after :attr:`AuthPolicy.session_idle` without use."""
        if not token.startswith("lvt_") or len(token) > 100:
            raise Unauthenticated("invalid token")
        now = self.clock()
        with self.gate.sign_in() as session:
            row = session.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == token_digest(token))
            ).first()
            if row is None:
                raise Unauthenticated("invalid token")
            api_token, user = row
            if (
                api_token.revoked_at is not None
                or api_token.expires_at <= now
                or not may_sign_in(session, user)
            ):
                raise Unauthenticated("token expired or revoked")
            kind = TokenKind(api_token.kind)
            last_used = api_token.last_used_at or api_token.created_at
            if kind.signed_in and now - last_used > self.policy.session_idle:
                raise Unauthenticated("session expired after a period without use: log in again")
            if api_token.last_used_at is None or now - api_token.last_used_at >= self.policy.touch_interval:
                session.execute(update(ApiToken).where(ApiToken.id == api_token.id).values(last_used_at=now))
            return dataclasses.replace(
                _account(user),
                token_id=api_token.id,
                token_kind=kind,
                token_expires_at=api_token.expires_at,
                reauthenticated_at=api_token.reauthenticated_at,
            )

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

    def _revoke_all(self, session: Session, user_id: uuid.UUID) -> int:
        result = session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def by_username(self, username: str) -> Account:
        with self.gate.lookup() as session:
            user = find_user(session, username)
            if user is None:
                raise NotFound(f"no user {username!r}")
            return _account(user)
