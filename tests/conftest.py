"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL: a throw-away database per test session on 127.0.0.1:5432 (override the server with
LABVAULT_TEST_PG_URL). Locally, tests skip with a message if it is down; under CI=true a missing
PostgreSQL fails the run instead.

The classes the fixtures hand out live in tests/factories.py (``Factory``, the workflow ``Bench``)
and tests/web/support.py (``TwoLabs``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from labvault.config import Settings
from labvault.platform import Platform, initialise, open_platform
from labvault.store.engine import libpq_conninfo
from tests.factories import Factory
from tests.web.support import TwoLabs

PG_ADMIN_URL = os.environ.get("LABVAULT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("sqlite", "postgresql")
# Off-hours alerts depend on the wall clock: off for the suite, so that no test's audit chain
# changes with the hour it runs at (tests/security/test_alerts_patterns.py tests them, clock injected).
os.environ.setdefault("LABVAULT_OFF_HOURS_ALERTS", "false")
# The login rate limit counts in the database, so every app of a test session shares it, and the
# suite signs in far more than 30 times a minute from "testclient": out of reach unless a test
# sets its own (tests/web/test_lockout_api.py, tests/security/test_login_rate_limit.py, the live
# servers of tests/web/test_proxy_headers.py and tests/web/test_serve_workers.py).
os.environ.setdefault("LABVAULT_LOGIN_RATE_LIMIT", "100000")


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
            # A test database need not survive a power loss: commits return before the WAL flush.
            conn.execute(f'ALTER DATABASE "{self.name}" SET synchronous_commit = off')

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
    platform = open_platform(settings)
    relax_sqlite_durability(platform)
    return platform, pg


def relax_sqlite_durability(platform: Platform) -> None:
    """Test platforms trade power-loss durability for speed: SQLite commits without an fsync
    (``synchronous=NORMAL`` in WAL mode still survives a killed process). Production keeps FULL
    (tests/store/test_sqlite_durability.py); servers the tests start in a subprocess keep it too."""
    engine = platform.db.owner_engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _synchronous_normal)
        engine.dispose()  # connections opened with FULL are replaced on next use


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


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


def forget_account_alerts(platform: Platform, lab_id: uuid.UUID) -> None:
    """Delete the lab's alerts about its own accounts (``account_*``: every account a test creates
    raises one, see tests/security/test_account_takeover.py), for tests about other alerts that
    read the lab's whole list."""
    from sqlalchemy import delete

    from labvault.security.alert_models import Alert

    table = Alert.__table__
    with platform.db.owner_engine.begin() as conn:
        conn.execute(delete(table).where(table.c.lab_id == lab_id, table.c.kind.like("account%")))


@pytest.fixture
def factory(platform: Platform) -> Factory:
    return Factory(platform)


@pytest.fixture
def fresh_factory(fresh_platform: Platform) -> Factory:
    return Factory(fresh_platform)


@pytest.fixture(scope="module")
def two_labs(platform: Platform) -> Iterator[TwoLabs]:
    """Lab A with its admin and staff, lab B likewise, a platform operator and an anonymous client
    (tests/web/support.py): one per module, so what a module's tests add stays in that module."""
    with TwoLabs.open(platform) as labs:
        yield labs
