"""The numbers of authentication: lockout, session lifetimes, re-authentication window."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from labvault.config import Settings


@dataclass(frozen=True)
class AuthPolicy:
    max_failures: int = 5  # consecutive refused attempts on one account before it is locked
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    session_lifetime: dt.timedelta = dt.timedelta(hours=8)  # absolute, from login
    session_idle: dt.timedelta = dt.timedelta(minutes=30)  # login sessions only, not script tokens
    # A token's last use is written at most this often: not a database write per request.
    touch_interval: dt.timedelta = dt.timedelta(minutes=1)
    reauth_max_age: dt.timedelta = dt.timedelta(minutes=5)
    mfa_issuer: str = "labvault"
    # Roles that must sign in with a security key once they have one (WebAuthn); none by default.
    security_key_roles: frozenset[str] = frozenset()
    # How long a lab's admins have to cancel an operator's reset of a lab admin's factor.
    platform_action_delay: dt.timedelta = dt.timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthPolicy:
        return cls(
            max_failures=settings.login_max_failures,
            lockout=dt.timedelta(minutes=settings.login_lockout_minutes),
            session_lifetime=dt.timedelta(hours=settings.token_ttl_hours),
            session_idle=dt.timedelta(minutes=settings.session_idle_minutes),
            reauth_max_age=dt.timedelta(minutes=settings.reauth_max_age_minutes),
            mfa_issuer=settings.mfa_issuer,
            security_key_roles=frozenset(settings.security_key_roles),
            platform_action_delay=dt.timedelta(hours=settings.platform_action_delay_hours),
        )
