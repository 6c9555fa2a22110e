"""PostgreSQL row-level security, the wall under the session filter (store/pg_rls.py).

Every test here removes the application's own filter (a session with ``unscoped`` tenancy, or raw
SQL) on the *application* engine, so only PostgreSQL stands between the labs. PostgreSQL only:
under CI=true a missing server fails the run (tests/conftest.py ``require_pg``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, Table, func, insert, literal, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from labvault.config import Settings
from labvault.errors import ConfigurationError
from labvault.identity.models import Patient
from labvault.platform import Platform, initialise, open_platform
from labvault.schema import metadata
from labvault.security.access import Role
from labvault.security.models import AuditEvent, AuditHead
from labvault.store.base import Base
from labvault.store.engine import libpq_conninfo
from labvault.store.pg_rls import (
    ACCOUNT_LAB_FUNCTION,
    APP_ROLE,
    BEYOND_LAB_POLICY,
    CHAIN_POLICY,
    EVENTS_APPEND_POLICY,
    EVENTS_READ_POLICY,
    MAINTENANCE_POLICY,
    PLATFORM_MANAGED,
    TENANT_POLICY,
    apply_row_level_security,
    ensure_app_role,
    tenant_tables,
)
from labvault.store.tenancy import scope_session
from labvault.workflow.models import Order, Result
from tests.conftest import PG_ADMIN_URL, PgDatabase, require_pg
from tests.db_inspect import row_count
from tests.factories import Bench, Factory, cli_ctx

# The session-wide platform, on its PostgreSQL side only.
on_pg = pytest.mark.parametrize("platform", ["postgresql"], indirect=True)

# What platform transactions may do on the lab-owned tables they manage, beyond a lab's own rows.
BEYOND_LAB = {
    "users": {"select", "insert", "update"},  # never delete an account
    "lab_keys": set(),  # the key store declares the lab
    "lab_catalogs": set(),  # the catalogue service declares the lab
}
CROSS_LAB_TABLES = (Patient, Order, Result)
WAITING_ON_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock'"
)


@dataclass
class TwoLabs:
    a: Bench
    b: Bench


@pytest.fixture(scope="module")
def labs(platform: Platform) -> TwoLabs:
    """Two labs, each with a patient, an order and an entered result (no test changes them)."""
    benches = [Bench.create(platform, name) for name in ("Laboratoire A", "Laboratoire B")]
    for bench in benches:
        order = bench.order(tests=["GLU"])
        bench.enter(order, {"GLU": "5,2"})
    return TwoLabs(*benches)


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def as_lab(conn: Connection, lab_id: uuid.UUID | str | None) -> None:
    conn.execute(
        text("SELECT set_config('labvault.lab_id', :lab, true)"),
        {"lab": "" if lab_id is None else str(lab_id)},
    )


def waits_on_a_lock(engine: Engine, application_name: str) -> bool:
    """Poll (a fresh statistics snapshot each time) until that session waits on a lock."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as watcher:
            if watcher.execute(text(WAITING_ON_A_LOCK), {"name": application_name}).scalar_one():
                return True
        time.sleep(0.02)
    return False


def refused_by_policy(error: DBAPIError) -> bool:
    return "row-level security" in str(error.orig)


# --- the catalog ------------------------------------------------------------------------------------


@on_pg
def test_every_lab_owned_table_has_rls_enabled_forced_and_a_lab_policy(platform: Platform) -> None:
    tenant = {t.name for t in tenant_tables(metadata())}
    assert {"patients", "orders", "results", "specimens", "order_items", "physicians"} <= tenant
    managed = set(PLATFORM_MANAGED)
    assert managed == {"users", "lab_keys", "lab_catalogs"}
    lab_owned = tenant | managed
    with platform.db.owner_engine.connect() as conn:
        flags = {
            row.relname: (row.relrowsecurity, row.relforcerowsecurity)
            for row in conn.execute(
                text(
                    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                    "WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace"
                )
            )
        }
        policies = {
            (row.tablename, row.policyname): (row.roles, row.qual, row.with_check)
            for row in conn.execute(text("SELECT * FROM pg_policies WHERE schemaname = current_schema()"))
        }
        with_lab = set(
            conn.execute(
                text(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND column_name = 'lab_id'"
                )
            ).scalars()
        )
    # Any table with a lab (nullable or not) is under RLS: the audit log with its chain policies,
    # the others as TenantScoped models or platform-managed on purpose.
    assert with_lab - {"audit_events"} == lab_owned, "a table with a lab_id escapes row-level security"
    for name in sorted(lab_owned | {"audit_events", "audit_heads"}):
        assert flags[name] == (True, True), f"{name}: RLS not enabled and forced"
    for name in sorted(lab_owned):
        roles, qual, check = policies[(name, TENANT_POLICY)]
        assert roles == ["public"] and "lab_id" in qual and "labvault.lab_id" in qual and check == qual, name
        assert "IS NULL" not in qual, f"{name}: a lab's transaction is held to its own rows"
        maintenance_roles = policies[(name, MAINTENANCE_POLICY)][0]
        assert APP_ROLE not in maintenance_roles and "public" not in maintenance_roles, name
    # Beyond its own rows: exactly the exceptions declared, per command, each for "no lab" only
    # (and, for accounts, labs reading the platform operators').
    beyond = {
        name: {p.removeprefix(BEYOND_LAB_POLICY.format(command="")) for t, p in policies if t == name}
        - {TENANT_POLICY, MAINTENANCE_POLICY}
        for name in managed
    }
    assert beyond == BEYOND_LAB
    for (name, policy), (roles, qual, check) in policies.items():
        if name in managed and policy.startswith(BEYOND_LAB_POLICY.format(command="")):
            assert (
                roles == ["public"] and "labvault.lab_id" in (qual or check) and "IS NULL" in (qual or check)
            )
    assert "lab_id IS NULL" in policies[("users", BEYOND_LAB_POLICY.format(command="select"))][1]
    assert "labvault.lab_id" in policies[("audit_heads", CHAIN_POLICY)][1]
    # The log: read only one's own lab chain (no lab: the platform chain); append to one's own
    # chain (no lab: the platform's, or a lab's for an account of that lab), each event on its lab's.
    read_roles, read_qual, _ = policies[("audit_events", EVENTS_READ_POLICY)]
    assert read_roles == ["public"] and "labvault.lab_id" in read_qual and "lab_id IS NULL" in read_qual
    _, append_qual, append_check = policies[("audit_events", EVENTS_APPEND_POLICY)]
    assert append_qual is None and "labvault.lab_id" in append_check
    assert ACCOUNT_LAB_FUNCTION in append_check and "chain" in append_check
    assert APP_ROLE not in policies[("audit_events", MAINTENANCE_POLICY)][0]
    assert ("audit_events", CHAIN_POLICY) not in policies
    assert not {name for name, _ in policies} - lab_owned - {"audit_events", "audit_heads"}


@on_pg
def test_the_app_role_owns_nothing_and_cannot_bypass_rls(platform: Platform, labs: TwoLabs) -> None:
    with platform.db.engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == APP_ROLE
        role = conn.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb "
                "FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
        assert tuple(role) == (False, False, False, False)
        owned = conn.execute(
            text(
                "SELECT count(*) FROM pg_class "
                "WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
            )
        ).scalar_one()
        assert owned == 0
        privilege = "SELECT has_table_privilege(current_user, :t, :p)"
        for table in ("patients", "orders", "results", "labs", "lab_keys"):
            for denied in ("TRUNCATE", "REFERENCES", "TRIGGER"):
                assert not conn.execute(text(privilege), {"t": table, "p": denied}).scalar_one(), (
                    table,
                    denied,
                )
        for denied in ("UPDATE", "DELETE", "TRUNCATE"):
            assert not conn.execute(text(privilege), {"t": "audit_events", "p": denied}).scalar_one(), denied
        assert conn.execute(text(privilege), {"t": "audit_events", "p": "INSERT"}).scalar_one()
        assert not conn.execute(text(privilege), {"t": "alembic_version", "p": "SELECT"}).scalar_one()
        schema_create = "SELECT has_schema_privilege(current_user, current_schema(), 'CREATE')"
        assert not conn.execute(text(schema_create)).scalar_one()
        # The owner-only policy is out of reach: declaring maintenance changes nothing for the app.
        conn.execute(text("SELECT set_config('labvault.maintenance', 'on', true)"))
        assert conn.execute(select(func.count()).select_from(table_of(Patient))).scalar_one() == 0


@on_pg
def test_the_step_is_idempotent(platform: Platform) -> None:
    before = apply_row_level_security(platform.db.owner_engine, metadata())
    assert apply_row_level_security(platform.db.owner_engine, metadata()) == before
    assert set(before) == {t.name for t in tenant_tables(metadata())} | set(PLATFORM_MANAGED)


@on_pg
def test_an_app_role_that_could_lift_the_wall_is_refused(platform: Platform) -> None:
    owner = make_url(platform.db.url).username or "postgres"  # the tests' owner is a superuser
    with pytest.raises(ConfigurationError, match="must not be a superuser"):
        apply_row_level_security(platform.db.owner_engine, metadata(), app_role=owner)


@on_pg
def test_creating_the_app_role_tolerates_a_concurrent_creation(platform: Platform) -> None:
    """Roles are cluster-wide and test sessions build databases in parallel: the second creator
    waits on the first one's uncommitted role, then gets a unique violation, which is fine."""
    role = f"labvault_test_app_{uuid.uuid4().hex[:8]}"
    engine = platform.db.owner_engine
    errors: list[BaseException] = []

    def second_creator() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL application_name = '{role}'"))
                ensure_app_role(conn, role)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    thread = threading.Thread(target=second_creator)
    try:
        with engine.connect() as first, first.begin():
            ensure_app_role(first, role)
            thread.start()
            assert waits_on_a_lock(engine, role), "the second creator never waited on the first"
        thread.join(10)
        assert errors == []
    finally:
        if thread.ident is not None:  # started: let it finish before the role goes
            thread.join(10)
        with engine.begin() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))


# --- the wall, with the application's filter removed -------------------------------------------------


@on_pg
def test_an_unscoped_session_on_the_app_engine_sees_only_its_lab(platform: Platform, labs: TwoLabs) -> None:
    for model in CROSS_LAB_TABLES:
        assert row_count(platform, model, lab_id=labs.b.lab.id) > 0  # lab B's rows exist
    session = scope_session(Session(platform.db.engine), labs.a.lab.id, unscoped=True)
    with session, session.begin():
        for model in CROSS_LAB_TABLES:
            seen = {row.lab_id for row in session.scalars(select(model))}  # no filter added
            assert seen == {labs.a.lab.id}, model.__name__
            table = table_of(model)
            crossing = select(func.count()).select_from(table).where(table.c.lab_id == labs.b.lab.id)
            assert session.execute(crossing).scalar_one() == 0, model.__name__


@on_pg
def test_raw_sql_as_lab_a_returns_no_row_of_lab_b(platform: Platform, labs: TwoLabs) -> None:
    with platform.db.engine.connect() as conn:
        as_lab(conn, labs.a.lab.id)
        for model in CROSS_LAB_TABLES:
            name = table_of(model).name
            assert (
                conn.execute(
                    text(f"SELECT count(*) FROM {name} WHERE lab_id = :b"), {"b": labs.b.lab.id}
                ).scalar()
                == 0
            )
            assert (
                conn.execute(
                    text(f"SELECT count(*) FROM {name} WHERE lab_id = :a"), {"a": labs.a.lab.id}
                ).scalar()
                > 0
            )
        # The audit log: lab A's transaction reads and moves only its own chain.
        events, heads = table_of(AuditEvent), table_of(AuditHead)
        assert conn.execute(select(func.count()).where(events.c.lab_id == labs.b.lab.id)).scalar_one() == 0
        assert conn.execute(select(func.count()).where(events.c.lab_id == labs.a.lab.id)).scalar_one() > 0
        moved = conn.execute(
            update(heads).where(heads.c.chain == str(labs.b.lab.id)).values(last_seq=heads.c.last_seq)
        )
        assert moved.rowcount == 0


@on_pg
def test_writing_a_row_of_lab_b_as_lab_a_is_refused(platform: Platform, labs: TwoLabs) -> None:
    a_lab, b_lab = labs.a.lab.id, labs.b.lab.id
    for model in CROSS_LAB_TABLES:
        table = table_of(model)
        with platform.db.engine.connect() as conn:
            as_lab(conn, a_lab)
            a_row = conn.execute(select(table.c.id).limit(1)).scalar_one()
            # Insert a copy of lab A's row claiming lab B: refused by WITH CHECK.
            copied = [
                literal(uuid.uuid4()) if c.name == "id" else literal(b_lab) if c.name == "lab_id" else c
                for c in table.c
            ]
            with pytest.raises(DBAPIError) as caught, conn.begin_nested():
                conn.execute(
                    insert(table).from_select(list(table.c), select(*copied).where(table.c.id == a_row))
                )
            assert refused_by_policy(caught.value), model.__name__
            # Move lab A's row to lab B: refused by WITH CHECK.
            with pytest.raises(DBAPIError) as caught, conn.begin_nested():
                conn.execute(update(table).where(table.c.id == a_row).values(lab_id=b_lab))
            assert refused_by_policy(caught.value), model.__name__
            # Lab B's rows cannot be reached to be changed or deleted.
            assert (
                conn.execute(update(table).where(table.c.lab_id == b_lab).values(lab_id=b_lab)).rowcount == 0
            )
            assert conn.execute(table.delete().where(table.c.lab_id == b_lab)).rowcount == 0
    assert all(row_count(platform, model, lab_id=b_lab) > 0 for model in CROSS_LAB_TABLES)


@on_pg
@pytest.mark.parametrize("declared", [False, True], ids=["unset", "empty"])
def test_without_a_lab_nothing_is_seen_or_written(platform: Platform, labs: TwoLabs, declared: bool) -> None:
    with platform.db.engine.connect() as conn:
        if declared:
            as_lab(conn, None)  # '' must mean "no lab", not a failed uuid cast
        for model in CROSS_LAB_TABLES:
            assert conn.execute(select(func.count()).select_from(table_of(model))).scalar_one() == 0
        patients = table_of(Patient)
        with pytest.raises(DBAPIError) as caught, conn.begin_nested():
            conn.execute(insert(patients).values(id=uuid.uuid4(), lab_id=labs.a.lab.id))
        assert refused_by_policy(caught.value)
        # Platform tables are not lab-owned: still readable with no lab.
        assert conn.execute(text("SELECT count(*) FROM labs")).scalar_one() >= 2


@on_pg
def test_the_lab_setting_ends_with_the_transaction(platform: Platform, labs: TwoLabs) -> None:
    with platform.db.transaction(labs.a.lab.id) as session:
        assert session.execute(text("SELECT current_setting('labvault.lab_id')")).scalar() == str(
            labs.a.lab.id
        )
    with platform.db.engine.connect() as conn:  # likely the same pooled connection
        assert conn.execute(text("SELECT current_setting('labvault.lab_id', true)")).scalar() in (None, "")
        assert conn.execute(select(func.count()).select_from(table_of(Patient))).scalar_one() == 0


@on_pg
def test_unscoped_maintenance_runs_as_the_owner(platform: Platform, labs: TwoLabs) -> None:
    with platform.db.transaction(None, unscoped=True) as session:
        assert session.execute(text("SELECT current_user")).scalar() != APP_ROLE
        assert session.execute(text("SELECT current_setting('labvault.maintenance')")).scalar() == "on"
        patients = table_of(Patient)
        seen = set(session.scalars(select(patients.c.lab_id).distinct()))
        assert {labs.a.lab.id, labs.b.lab.id} <= seen


# --- an owner that is not a superuser: FORCE holds it too, unless it declares maintenance ----------


@pytest.fixture
def unprivileged_owner(tmp_path: Path) -> Iterator[Platform]:
    require_pg()
    owner = f"labvault_test_owner_{uuid.uuid4().hex[:8]}"
    database = PgDatabase()
    with psycopg.connect(libpq_conninfo(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE')
        conn.execute(f'CREATE DATABASE "{database.name}" OWNER "{owner}"')
    url = make_url(database.url).set(username=owner).render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys", database_url=url)
    built: Platform | None = None
    try:
        initialise(settings)
        built = open_platform(settings)
        yield built
    finally:
        if built is not None:
            built.close()
        database.drop()
        with psycopg.connect(libpq_conninfo(PG_ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{owner}"')


def test_an_owner_without_superuser_is_held_unless_in_maintenance(unprivileged_owner: Platform) -> None:
    factory = Factory(unprivileged_owner)
    labs = [factory.lab(), factory.lab()]
    for lab in labs:
        unprivileged_owner.patients.register(factory.ctx(lab), factory.patient_data())
    with unprivileged_owner.db.owner_engine.connect() as conn:
        assert (
            conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar() is False
        )
        assert conn.execute(select(func.count()).select_from(table_of(Patient))).scalar_one() == 0
    with unprivileged_owner.db.transaction(None, unscoped=True) as session:
        assert session.execute(select(func.count()).select_from(table_of(Patient))).scalar_one() == 2
    unprivileged_owner.labs.rotate_keys(cli_ctx(), labs[0].id)
    report = unprivileged_owner.reencryptor.run(labs[0].id)
    assert report.values_rewritten > 0


@on_pg
def test_without_a_lab_the_log_shows_only_the_platform_chain(platform: Platform, labs: TwoLabs) -> None:
    """A login or account path that forgot a filter must not read a lab's events (they name
    patients); it may still append to a lab's chain (account changes, failed logins)."""
    events = table_of(AuditEvent)
    assert row_count(platform, AuditEvent, lab_id=labs.a.lab.id) > 0
    with platform.db.engine.connect() as conn:
        seen = set(conn.execute(select(events.c.chain).distinct()).scalars())
        assert seen <= {"platform"}, seen
        as_lab(conn, labs.a.lab.id)
        mine = set(conn.execute(select(events.c.chain).distinct()).scalars())
        assert mine == {str(labs.a.lab.id)}
    # The service path: a lab admin's account change, from a platform transaction, is appended to
    # the lab's chain although that transaction cannot read it back.
    before = row_count(platform, AuditEvent, lab_id=labs.a.lab.id)
    labs.a.factory.user(labs.a.lab, Role.TECHNICIAN)
    assert row_count(platform, AuditEvent, lab_id=labs.a.lab.id) > before
