"""TOTP enrolment: every staff account must enrol before it can get a token.

Two steps, both proven with the password: ``begin`` draws a secret and returns it once (as an
``otpauth://`` URI for the authenticator app); ``confirm`` activates it with a first code, proving
the app holds it. Starting again before confirming replaces the pending secret; once active, only
an administrator's reset (:meth:`AccountAdminService.reset_mfa`) allows a new enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from labvault.errors import Unauthenticated
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.credentials import AUTH_FAILED, Check, CredentialChecker, find_user, user_context
from labvault.identity.models import User
from labvault.security import audit
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.totp import DIGITS, STEP_SECONDS, new_secret, provisioning_uri
from labvault.store.database import Database


@dataclass(frozen=True)
class MfaEnrollment:
    """Shown once: nothing can display the secret again."""

    username: str
    secret: str
    uri: str
    digits: int = DIGITS
    period: int = STEP_SECONDS


class MfaService:
    def __init__(self, db: Database, checker: CredentialChecker, policy: AuthPolicy) -> None:
        self.checker = checker
        self.policy = policy
        self.gate = Gate(db)

    def begin_enrollment(self, username: str, password: str, origin: str = "local") -> MfaEnrollment:
        """A new pending secret for an account without active MFA. Any refusal, including an
        account whose MFA is already active, is the same :data:`AUTH_FAILED`."""
        secret = new_secret()
        with self.gate.sign_in() as session:
            user = find_user(session, username)
            verified = self.checker.check(session, user, username, password, None, Check.MFA_ENROLL, origin)
            if verified is not None:
                session.execute(
                    update(User)
                    .where(User.id == verified.user.id)
                    .values(
                        totp_secret_sealed=self.checker.box.seal(verified.user.id, secret),
                        totp_last_step=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                audit.append(
                    session,
                    user_context(verified.user, origin),
                    AuditRecord("auth.mfa_enrollment_started", "user", str(verified.user.id)),
                )
                name = verified.user.username
        if verified is None:
            raise Unauthenticated(AUTH_FAILED)
        return MfaEnrollment(name, secret, provisioning_uri(secret, name, self.policy.mfa_issuer))

    def confirm_enrollment(self, username: str, password: str, code: str, origin: str = "local") -> None:
        """Activate the pending secret with a current code from the app (the code is consumed)."""
        with self.gate.sign_in() as session:
            user = find_user(session, username)
            verified = self.checker.check(session, user, username, password, code, Check.MFA_CONFIRM, origin)
            if verified is not None:
                session.execute(
                    update(User)
                    .where(User.id == verified.user.id)
                    .values(mfa_enabled_at=verified.at)
                    .execution_options(synchronize_session=False)
                )
                audit.append(
                    session,
                    user_context(verified.user, origin),
                    AuditRecord("auth.mfa_enabled", "user", str(verified.user.id)),
                )
        if verified is None:
            raise Unauthenticated(AUTH_FAILED)
