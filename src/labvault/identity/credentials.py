"""The one place a password and a one-time code are checked: login, re-authentication, password
change and MFA enrolment all come here, so lockout, single-use codes and the audit of failures
cannot be forgotten by one of them.

Every check spends exactly one Argon2 verification, whether the user exists or not, and every
refusal looks the same to the caller (:data:`AUTH_FAILED`): unknown user, wrong password, wrong or
replayed code, locked, disabled or not enrolled cannot be told apart by status, body or timing.
The audit log, which only the lab's auditors read, records which it was.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from labvault.crypto.kdf import hmac_sha256
from labvault.crypto.totp_secrets import KEY_PURPOSE, TotpSecretBox
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.models import Lab, User
from labvault.identity.webauthn_models import SecurityKey
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.audit import AuditRecord
from labvault.security.passwords import verify_password
from labvault.security.totp import matching_step

AUTH_FAILED = (
    "authentication failed: wrong username, password or one-time code, "
    "or the account is locked, disabled or not enrolled in MFA, "
    "or its password was set by someone else and must first be replaced (POST /auth/password/initial)"
)
PSEUDONYM_PURPOSE = "auth-username-pseudonym-v1"


class Check(StrEnum):
    """What the credentials are presented for (recorded with each refusal)."""

    LOGIN = "login"
    REAUTH = "reauth"
    PASSWORD_CHANGE = "password_change"  # noqa: S105 - a check name, not a password
    MFA_ENROLL = "mfa_enroll"
    MFA_CONFIRM = "mfa_confirm"
    # The owner replaces a password someone else set (the only use such a password has).
    INITIAL_PASSWORD = "initial_password"  # noqa: S105 - a check name, not a password


class Refusal(StrEnum):
    UNKNOWN_USER = "unknown_user"
    LOCKED = "locked"
    PASSWORD = "password"  # noqa: S105 - a refusal reason, not a password
    DISABLED = "disabled"
    MFA_NOT_ENROLLED = "mfa_not_enrolled"
    MFA_ALREADY_ENROLLED = "mfa_already_enrolled"
    MFA_NOT_PENDING = "mfa_not_pending"
    CODE = "code"
    CODE_REPLAYED = "code_replayed"
    SECURITY_KEY = "security_key"
    SECURITY_KEY_REQUIRED = "security_key_required"
    # The password is right but was set by someone else: it serves only to set the owner's own.
    PASSWORD_TEMPORARY = "password_temporary"  # noqa: S105 - a refusal reason, not a password
    PASSWORD_ALREADY_OWN = "password_already_own"  # noqa: S105 - a refusal reason, not a password


_NEEDS_ACTIVE_MFA = frozenset({Check.LOGIN, Check.REAUTH, Check.PASSWORD_CHANGE})


def may_sign_in(session: Session, user: User) -> bool:
    """Active account, and its laboratory (if any) not crypto-shredded."""
    if not user.active:
        return False
    if user.lab_id is None:
        return True
    lab = session.get(Lab, user.lab_id)
    return lab is not None and lab.shredded_at is None


def user_context(user: User, origin: str) -> AccessContext:
    """The user acting on their own account (audited on their lab's chain, or the platform's)."""
    return AccessContext(
        user.id,
        user.username,
        Role(user.role),
        user.lab_id,
        Purpose.ADMINISTRATION,
        origin,
        physician_id=user.physician_id,
    )


def is_locked(user: User, now: dt.datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


# A second factor other than the TOTP code (a security key's assertion): called once the password
# is known good, in the same transaction; True if the factor is proven.
SecondFactor = Callable[[Session, User], bool]


@dataclass(frozen=True)
class Verified:
    user: User
    at: dt.datetime


class CredentialChecker:
    def __init__(self, keys: KeyStore, policy: AuthPolicy, clock: Callable[[], dt.datetime]) -> None:
        self.keys = keys
        self.policy = policy
        self.clock = clock
        self._box: TotpSecretBox | None = None
        self._pseudonym_key: bytes | None = None
        self._lock = threading.Lock()

    @property
    def box(self) -> TotpSecretBox:
        if self._box is None:
            with self._lock:
                if self._box is None:
                    self._box = TotpSecretBox(self.keys.provider.derive(KEY_PURPOSE))
        return self._box

    def pseudonym(self, typed_username: str) -> str:
        """A keyed hash of a username nobody has: lets auditors see a spraying pattern without the
        log holding what was typed (often a password typed in the wrong field)."""
        if self._pseudonym_key is None:
            self._pseudonym_key = self.keys.provider.derive(PSEUDONYM_PURPOSE)
        return hmac_sha256(self._pseudonym_key, typed_username.encode("utf-8"))[:16].hex()

    def check(
        self,
        session: Session,
        user: User | None,
        typed_username: str,
        password: str,
        code: str | None,
        check: Check,
        origin: str,
        second_factor: SecondFactor | None = None,
    ) -> Verified | None:
        """Verify ``password`` (and ``code``, except when starting an enrolment, or the security key
        ``second_factor`` instead of the code) for ``user``.

        On success the code's time step is consumed and the failure counter reset. On refusal the
        refusal is recorded in ``session`` (counter, lockout, audit) and None returned: the caller
        lets the transaction commit, then raises ``Unauthenticated(AUTH_FAILED)``."""
        now = self.clock()
        password_ok = verify_password(user.password_hash if user else None, password)
        if user is None:
            self._record_unknown(session, typed_username, check, origin)
            return None
        refusal = self._refusal(session, user, password_ok, code, check, now, second_factor)
        if refusal is not None:
            self._record_refusal(session, user, check, refusal, origin, now)
            return None
        if user.failed_logins or user.locked_until is not None:
            session.execute(
                update(User)
                .where(User.id == user.id)
                .values(failed_logins=0, locked_until=None)
                .execution_options(synchronize_session=False)
            )
        return Verified(user, now)

    def _refusal(
        self,
        session: Session,
        user: User,
        password_ok: bool,
        code: str | None,
        check: Check,
        now: dt.datetime,
        second_factor: SecondFactor | None = None,
    ) -> Refusal | None:
        if is_locked(user, now):
            return Refusal.LOCKED
        if not password_ok:
            return Refusal.PASSWORD
        if not may_sign_in(session, user):
            return Refusal.DISABLED
        if user.password_temporary and check is not Check.INITIAL_PASSWORD:
            return Refusal.PASSWORD_TEMPORARY
        if check is Check.INITIAL_PASSWORD and not user.password_temporary:
            return Refusal.PASSWORD_ALREADY_OWN
        enabled = user.mfa_enabled_at is not None
        if check is Check.INITIAL_PASSWORD and not enabled:
            return None  # a new account: no factor yet, enrolled next with the owner's password
        if check in _NEEDS_ACTIVE_MFA and not enabled:
            return Refusal.MFA_NOT_ENROLLED
        if check is Check.MFA_ENROLL:
            return Refusal.MFA_ALREADY_ENROLLED if enabled else None
        if check is Check.MFA_CONFIRM and (enabled or user.totp_secret_sealed is None):
            return Refusal.MFA_NOT_PENDING
        if second_factor is not None:
            return None if second_factor(session, user) else Refusal.SECURITY_KEY
        # Sign-in and re-authentication have a key path; a password change keeps the code.
        if check in (Check.LOGIN, Check.REAUTH) and self._needs_security_key(session, user):
            return Refusal.SECURITY_KEY_REQUIRED
        assert user.totp_secret_sealed is not None
        secret = self.box.open(user.id, user.totp_secret_sealed)
        step = matching_step(secret, code or "", now)
        if step is None:
            return Refusal.CODE
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return Refusal.CODE_REPLAYED
        # Conditional: of two concurrent requests with the same code, one only gets through.
        return None if self._consume_step(session, user.id, step) else Refusal.CODE_REPLAYED

    def _needs_security_key(self, session: Session, user: User) -> bool:
        """Roles configured to use security keys may not fall back to a TOTP code once they have
        registered one (until then the code lets them in to register it)."""
        if user.role not in self.policy.security_key_roles:
            return False
        return (
            session.scalar(select(SecurityKey.id).where(SecurityKey.user_id == user.id).limit(1)) is not None
        )

    @staticmethod
    def _consume_step(session: Session, user_id: uuid.UUID, step: int) -> bool:
        """Record ``step`` as used, unless a concurrent request used it (or a later one) first."""
        result = session.execute(
            update(User)
            .where(User.id == user_id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def _record_refusal(
        self, session: Session, user: User, check: Check, refusal: Refusal, origin: str, now: dt.datetime
    ) -> None:
        ctx = user_context(user, origin)
        detail: dict[str, object] = {"check": check.value, "reason": refusal.value}
        locked_until: dt.datetime | None = None
        # Attempts on a locked account do not extend the lock; the right (temporary) password is
        # no failure to count.
        if refusal not in (Refusal.LOCKED, Refusal.PASSWORD_TEMPORARY):
            session.execute(
                update(User)
                .where(User.id == user.id)
                .values(failed_logins=User.failed_logins + 1)
                .execution_options(synchronize_session=False)
            )
            failures = int(session.scalar(select(User.failed_logins).where(User.id == user.id)) or 0)
            detail["failures"] = failures
            if failures >= self.policy.max_failures:
                locked_until = now + self.policy.lockout
                session.execute(
                    update(User)
                    .where(User.id == user.id)
                    .values(failed_logins=0, locked_until=locked_until)
                    .execution_options(synchronize_session=False)
                )
        audit.append(session, ctx, AuditRecord("auth.login_failed", "user", str(user.id), detail))
        if locked_until is not None:
            audit.append(
                session,
                ctx,
                AuditRecord(
                    "auth.account_locked",
                    "user",
                    str(user.id),
                    {
                        "until": locked_until.isoformat(timespec="seconds"),
                        "after_failures": detail["failures"],
                    },
                ),
            )

    def _record_unknown(self, session: Session, typed_username: str, check: Check, origin: str) -> None:
        # Nobody is acting: the platform chain, with the platform role its context requires.
        ctx = AccessContext.anonymous(origin)
        detail = {
            "check": check.value,
            "reason": Refusal.UNKNOWN_USER.value,
            "username_hmac": self.pseudonym(typed_username.strip().lower()),
        }
        audit.append(session, ctx, AuditRecord("auth.login_failed", "user", None, detail))


def find_user(session: Session, username: str) -> User | None:
    """The account, its row locked until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serialises): concurrent attempts on one account are checked one after the other, so
    they cannot all pass the lockout check before the first failure is counted."""
    return session.scalar(select(User).where(User.username == username.strip().lower()).with_for_update())
