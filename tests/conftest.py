"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL: a throw-away database per test session on 127.0.0.1:5432 (override the server with
LABVAULT_TEST_PG_URL). Locally, tests skip with a message if it is down; under CI=true a missing
PostgreSQL fails the run instead.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from labvault.config import Settings
from labvault.demo.seed import to_patient_data
from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientData
from labvault.identity.synthetic import generate_finess, synthetic_patients
from labvault.platform import Platform, initialise, open_platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.engine import libpq_conninfo

PG_ADMIN_URL = os.environ.get("LABVAULT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("sqlite", "postgresql")
TEST_PASSWORD = "correct horse battery staple"
# What an administrator gives a new account: it works once, for the owner to set their own.
GIVEN_PASSWORD = "given by the administrator"
# Off-hours alerts depend on the wall clock: off for the suite, so that no test's audit chain
# changes with the hour it runs at (tests/security/test_alerts_patterns.py tests them, clock injected).
os.environ.setdefault("LABVAULT_OFF_HOURS_ALERTS", "false")


def pg_available() -> bool:
    try:
        with psycopg.connect(libpq_conninfo(PG_ADMIN_URL), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_pg() -> None:
    if not pg_available():
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but {PG_ADMIN_URL} is unreachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}; start it to run the PostgreSQL half")


@dataclass
class PgDatabase:
    """A throw-away PostgreSQL database, dropped at teardown."""

    name: str = field(default_factory=lambda: f"labvault_test_{uuid.uuid4().hex[:12]}")

    @property
    def url(self) -> str:
        return str(make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(hide_password=False))

    def create(self) -> None:
        with psycopg.connect(libpq_conninfo(PG_ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(libpq_conninfo(PG_ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def build_platform(root: Path, backend: str) -> tuple[Platform, PgDatabase | None]:
    """Initialise a complete platform (keys, schema by migrations) under ``root``."""
    pg: PgDatabase | None = None
    url = None
    if backend == "postgresql":
        require_pg()
        pg = PgDatabase()
        pg.create()
        url = pg.url
    settings = Settings(data_dir=root / "data", key_dir=root / "keys", database_url=url)
    initialise(settings)
    return open_platform(settings), pg


@pytest.fixture(scope="session", params=BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform per backend for the whole session; tests isolate themselves with new labs."""
    built, pg = build_platform(tmp_path_factory.mktemp(f"platform-{request.param}"), request.param)
    yield built
    built.close()
    if pg:
        pg.drop()


@pytest.fixture(params=BACKENDS)
def fresh_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    """A brand-new platform for tests that inspect the whole database or data directory."""
    built, pg = build_platform(tmp_path, request.param)
    yield built
    built.close()
    if pg:
        pg.drop()


_counter = itertools.count(1)


def own(platform: Platform, account: Account, password: str = TEST_PASSWORD) -> Account:
    """The account's owner replaces the password their creator gave (:data:`GIVEN_PASSWORD`), its
    only use, by ``password``."""
    platform.accounts.set_own_password(account.username, GIVEN_PASSWORD, password, None, "test")
    return account


def forget_account_alerts(platform: Platform, lab_id: uuid.UUID) -> None:
    """Delete the lab's alerts about its own accounts (``account_*``: every account a test creates
    raises one, see tests/security/test_account_takeover.py), for tests about other alerts that
    read the lab's whole list."""
    from sqlalchemy import delete

    from labvault.security.alert_models import Alert

    table = Alert.__table__
    with platform.db.owner_engine.begin() as conn:
        conn.execute(delete(table).where(table.c.lab_id == lab_id, table.c.kind.like("account%")))


def cli_ctx() -> AccessContext:
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
        import dataclasses

        return dataclasses.replace(to_patient_data(next(self._people)), **overrides)  # type: ignore[arg-type]


@pytest.fixture
def factory(platform: Platform) -> Factory:
    return Factory(platform)


@pytest.fixture
def fresh_factory(fresh_platform: Platform) -> Factory:
    return Factory(fresh_platform)
