"""Re-authentication before sensitive actions: a token is not enough, the person proves both
factors again (``POST /api/v1/auth/reauth``) and has a few minutes to act.

Apply :func:`require_recent_auth` wherever an action must not be done by whoever merely holds a
token (a stolen script token, an unlocked workstation): creating accounts and tokens, changing
roles, break-the-glass, support grants. In the web layer, the ``RecentAccount`` dependency
(:mod:`labvault.web.deps`) does it with the platform's settings.
"""

from __future__ import annotations

import datetime as dt

from labvault.errors import Forbidden
from labvault.identity.accounts import Account
from labvault.store.base import utcnow

DEFAULT_MAX_AGE = dt.timedelta(minutes=5)
CLOCK_SKEW = dt.timedelta(minutes=1)  # between app workers


class ReauthenticationRequired(Forbidden):
    """The caller is authenticated, but not recently enough for this action (HTTP 403)."""

    def __init__(self, max_age: dt.timedelta) -> None:
        minutes = max(1, int(max_age.total_seconds() // 60))
        super().__init__(
            "re-authentication required: confirm your password and a one-time code at "
            f"POST /api/v1/auth/reauth, then retry within {minutes} minute{'s' if minutes > 1 else ''}"
        )
        self.max_age = max_age


def require_recent_auth(
    account: Account, max_age: dt.timedelta = DEFAULT_MAX_AGE, now: dt.datetime | None = None
) -> None:
    """Raise :class:`ReauthenticationRequired` unless ``account`` proved both factors on its
    current token within ``max_age`` (a login counts, for its first ``max_age``)."""
    at = account.reauthenticated_at
    if at is None:
        raise ReauthenticationRequired(max_age)
    age = (now or utcnow()) - at
    if age > max_age or age < -CLOCK_SKEW:  # a stamp from the future is not trusted either
        raise ReauthenticationRequired(max_age)
