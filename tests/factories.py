"""What tests build their data with: the service-level :class:`Factory` (labs, accounts, patients
with unique synthetic values) and the account conventions it follows.

Fixtures live in tests/conftest.py; this module holds the classes, so that helpers and test
modules import them from one place instead of from a conftest.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import uuid

from labvault.demo.seed import to_patient_data
from labvault.demo.synthetic import generate_finess, synthetic_patients
from labvault.identity.account_service import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientData
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role

TEST_PASSWORD = "correct horse battery staple"
# What an administrator gives a new account: it works once, for the owner to set their own.
GIVEN_PASSWORD = "given by the administrator"

_counter = itertools.count(1)


def own(platform: Platform, account: Account, password: str = TEST_PASSWORD) -> Account:
    """The account's owner replaces the password their creator gave (:data:`GIVEN_PASSWORD`), its
    only use, by ``password``."""
    platform.accounts.set_own_password(account.username, GIVEN_PASSWORD, password, None, "test")
    return account


def cli_ctx() -> AccessContext:
    """The local command line acting as the platform operator (what creates labs and first admins)."""
    return AccessContext(None, "cli:test", Role.PLATFORM_OPERATOR, None, Purpose.MAINTENANCE)


class Factory:
    """Creates labs, accounts and patients with unique synthetic values."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.rng = random.Random(uuid.uuid4().int)
        self._admins: dict[uuid.UUID, Account] = {}
        self._people = synthetic_patients(100_000, self.rng.randrange(1 << 30))

    def lab(self, name: str = "Laboratoire de test") -> LabInfo:
        code = f"T{next(_counter)}{uuid.uuid4().hex[:6].upper()}"
        return self.platform.labs.create(cli_ctx(), code, name, generate_finess(self.rng))

    def user(self, lab: LabInfo | None, role: Role) -> Account:
        """Operators and a lab's first admin are created by the platform operator; staff accounts
        (and further admins) by that lab's admin, as the account rules require. Each owner then
        replaces the password they were given by :data:`TEST_PASSWORD`."""
        username = f"u{uuid.uuid4().hex[:12]}"
        if lab is None:
            return own(
                self.platform,
                self.platform.accounts.create_user(cli_ctx(), username, GIVEN_PASSWORD, role, None),
            )
        admin = self._admins.get(lab.id)
        if admin is None:
            admin = self.platform.accounts.create_user(
                cli_ctx(), f"a{uuid.uuid4().hex[:12]}", GIVEN_PASSWORD, Role.LAB_ADMIN, lab.id
            )
            own(self.platform, admin)
            self._admins[lab.id] = admin
            if role is Role.LAB_ADMIN:
                return admin
        creator = context_for(admin, Purpose.ADMINISTRATION, "127.0.0.1")
        return own(
            self.platform, self.platform.accounts.create_user(creator, username, GIVEN_PASSWORD, role, lab.id)
        )

    def ctx(self, lab: LabInfo, role: Role = Role.RECEPTION) -> AccessContext:
        return context_for(self.user(lab, role), Purpose.CARE, "127.0.0.1")

    def patient_data(self, **overrides: object) -> PatientData:
        return dataclasses.replace(to_patient_data(next(self._people)), **overrides)  # type: ignore[arg-type]
