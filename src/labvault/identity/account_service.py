"""``platform.accounts``: account administration (identity/account_admin.py) and sign-in
(identity/sign_in.py) behind one name, so that routes, commands and tests keep calling
``platform.accounts.<method>`` whichever job the method belongs to."""

from __future__ import annotations

from labvault.identity.account_admin import AccountAdminService
from labvault.identity.sign_in import SignInService


class AccountService(AccountAdminService, SignInService):
    """Both account services on one set of state (database, keys, policy, clock): built like
    :class:`SignInService`, whose constructor sets up the shared :class:`AccountsBase` too."""
