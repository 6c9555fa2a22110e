"""Row-level security on the lab-owned tables the platform also manages (store/pg_rls.py
``PLATFORM_MANAGED``: accounts, wrapped keys, catalogues) and on what a platform transaction may
append to the audit log.

As in tests/store/test_row_level_security.py, the application's own filter is out of the way (raw
SQL on the *application* engine): only PostgreSQL stands between the labs. Nothing here commits:
every connection ends in a rollback, so the session-wide database keeps valid audit chains.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, Table, func, insert, literal, select, text, update
from sqlalchemy.exc import DBAPIError

from labvault.catalog.loader import default_catalog, dump_catalog
from labvault.catalog.storage import LabCatalog
from labvault.identity.lab_service import LabInfo
from labvault.identity.models import User
from labvault.keys.models import LabKey
from labvault.platform import Platform
from labvault.schema import metadata
from labvault.security.access import Role
from labvault.security.models import PLATFORM_CHAIN, AuditEvent
from labvault.store.base import Base, utcnow
from labvault.store.database import declared_lab
from labvault.store.pg_rls import apply_row_level_security
from labvault.store.tenancy import LAB_KEY, TenantScopeError
from tests.factories import Factory, cli_ctx

on_pg = pytest.mark.parametrize("platform", ["postgresql"], indirect=True)

MANAGED = (User, LabKey, LabCatalog)
# What a copied row must change besides its lab to be a new row (unique columns, surrogate keys).
NEW_ROW: dict[str, dict[str, Any]] = {
    "users": {"id": lambda: uuid.uuid4(), "username": lambda: f"copy{uuid.uuid4().hex[:12]}"},
    "lab_keys": {"version": lambda: 999},
    "lab_catalogs": {"revision": lambda: 999},
}
SERIAL_IDS = {"lab_keys", "lab_catalogs"}  # their id comes from a sequence
FAR_AHEAD = itertools.count(10**12)  # sequence numbers no chain reaches: no unique violation


@dataclass
class Labs:
    a: LabInfo
    b: LabInfo
    a_user: uuid.UUID
    b_user: uuid.UUID
    operator: uuid.UUID


@pytest.fixture(scope="module")
def labs(platform: Platform) -> Labs:
    """Two labs, each with its key set, a catalogue and accounts; and a platform operator."""
    factory = Factory(platform)
    a, b = factory.lab("Laboratoire A"), factory.lab("Laboratoire B")
    for lab in (a, b):
        document = dump_catalog(default_catalog())
        document["version"] = f"rls-{lab.code}"
        platform.catalogs.import_document(cli_ctx(), lab.id, document)
    users = [factory.user(lab, Role.TECHNICIAN).id for lab in (a, b)]
    operator = factory.user(None, Role.PLATFORM_OPERATOR).id
    return Labs(a, b, users[0], users[1], operator)


@pytest.fixture
def conn(platform: Platform) -> Iterator[Connection]:
    """An application-role connection whose work is rolled back."""
    with platform.db.engine.connect() as connection:
        yield connection
        connection.rollback()


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def as_lab(conn: Connection, lab_id: uuid.UUID | None) -> None:
    conn.execute(
        text("SELECT set_config('labvault.lab_id', :lab, true)"),
        {"lab": "" if lab_id is None else str(lab_id)},
    )


def count(conn: Connection, table: Table, lab_id: uuid.UUID | None) -> int:
    where = table.c.lab_id.is_(None) if lab_id is None else table.c.lab_id == lab_id
    return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())


def owner_count(platform: Platform, table: Table, lab_id: uuid.UUID) -> int:
    with platform.db.owner_engine.connect() as owner:
        return count(owner, table, lab_id)


def refused(conn: Connection, statement: Any) -> bool:
    """True if PostgreSQL refuses the statement by a row-level security policy."""
    try:
        with conn.begin_nested():
            conn.execute(statement)
    except DBAPIError as error:
        assert "row-level security" in str(error.orig), error
        return True
    return False


def copy_as(table: Table, row_filter: Any, lab_id: uuid.UUID | None) -> Any:
    """INSERT ... SELECT of one row with ``lab_id`` (and fresh unique values)."""
    fresh = NEW_ROW[table.name]
    columns = [c for c in table.c if not (c.name == "id" and table.name in SERIAL_IDS)]
    values = [
        literal(lab_id, table.c.lab_id.type)
        if c.name == "lab_id"
        else literal(fresh[c.name](), c.type)
        if c.name in fresh
        else c
        for c in columns
    ]
    return insert(table).from_select(columns, select(*values).where(row_filter).limit(1))


# --- a lab's transaction: its own rows only --------------------------------------------------------


@on_pg
@pytest.mark.parametrize("model", MANAGED, ids=lambda m: m.__tablename__)
def test_a_lab_transaction_sees_none_of_another_labs_rows(
    platform: Platform, labs: Labs, conn: Connection, model: type[Base]
) -> None:
    table = table_of(model)
    assert owner_count(platform, table, labs.b.id) > 0  # lab B's rows exist
    as_lab(conn, labs.a.id)
    assert count(conn, table, labs.a.id) > 0
    assert count(conn, table, labs.b.id) == 0
    seen = set(conn.execute(select(table.c.lab_id).distinct()).scalars())
    assert seen - {None} == {labs.a.id}, seen


@on_pg
@pytest.mark.parametrize("model", MANAGED, ids=lambda m: m.__tablename__)
def test_a_lab_transaction_cannot_write_another_labs_rows(
    platform: Platform, labs: Labs, conn: Connection, model: type[Base]
) -> None:
    table = table_of(model)
    before = owner_count(platform, table, labs.b.id)
    as_lab(conn, labs.a.id)
    mine = table.c.lab_id == labs.a.id
    assert not refused(conn, copy_as(table, mine, labs.a.id))  # the copy itself is fine in lab A
    assert refused(conn, copy_as(table, mine, labs.b.id))  # claiming lab B: WITH CHECK
    assert refused(conn, update(table).where(mine).values(lab_id=labs.b.id))  # moving a row to B
    theirs = table.c.lab_id == labs.b.id
    assert conn.execute(update(table).where(theirs).values(lab_id=labs.b.id)).rowcount == 0
    assert conn.execute(table.delete().where(theirs)).rowcount == 0
    assert owner_count(platform, table, labs.b.id) == before


@on_pg
def test_a_lab_reads_platform_operators_accounts_but_cannot_change_them(labs: Labs, conn: Connection) -> None:
    """Support grants and the patient access log name operators; nothing lets a lab alter them."""
    users = table_of(User)
    as_lab(conn, labs.a.id)
    assert conn.execute(select(users.c.id).where(users.c.id == labs.operator)).scalar() == labs.operator
    platform_rows = users.c.lab_id.is_(None)
    assert conn.execute(update(users).where(platform_rows).values(active=False)).rowcount == 0
    assert conn.execute(users.delete().where(platform_rows)).rowcount == 0
    assert refused(conn, copy_as(users, users.c.id == labs.operator, None))
    assert refused(conn, update(users).where(users.c.id == labs.a_user).values(lab_id=None))


# --- a platform transaction: what it needs, nothing more -----------------------------------------


@on_pg
@pytest.mark.parametrize("declared", [False, True], ids=["unset", "empty"])
def test_a_platform_transaction_sees_no_key(labs: Labs, conn: Connection, declared: bool) -> None:
    if declared:
        as_lab(conn, None)
    keys = table_of(LabKey)
    assert conn.execute(select(func.count()).select_from(keys)).scalar_one() == 0
    assert refused(conn, insert(keys).values(lab_id=labs.a.id, purpose="data", version=998, wrapped=b"x"))
    assert conn.execute(keys.delete().where(keys.c.lab_id == labs.a.id)).rowcount == 0


@on_pg
def test_a_platform_transaction_sees_no_catalogue(labs: Labs, conn: Connection) -> None:
    catalogs = table_of(LabCatalog)
    assert conn.execute(select(func.count()).select_from(catalogs)).scalar_one() == 0
    assert refused(
        conn,
        insert(catalogs).values(lab_id=labs.a.id, revision=998, version="x", document={}, imported_by="x"),
    )
    assert conn.execute(catalogs.delete()).rowcount == 0


@on_pg
def test_a_platform_transaction_manages_accounts_but_deletes_none(labs: Labs, conn: Connection) -> None:
    """Sign-in and token resolution find an account before its lab is known."""
    users = table_of(User)
    assert count(conn, users, labs.a.id) > 0 and count(conn, users, labs.b.id) > 0
    moved = conn.execute(update(users).where(users.c.id == labs.b_user).values(active=users.c.active))
    assert moved.rowcount == 1
    assert conn.execute(users.delete().where(users.c.id == labs.b_user)).rowcount == 0


# --- declaring a lab around a platform transaction's statements ----------------------------------


@on_pg
def test_declared_lab_opens_that_labs_keys_for_the_block_only(platform: Platform, labs: Labs) -> None:
    with platform.db.transaction(None) as session:
        assert session.scalar(select(func.count(LabKey.id))) == 0
        with declared_lab(session, labs.a.id):
            assert session.info[LAB_KEY] == labs.a.id
            assert set(session.scalars(select(LabKey.lab_id).distinct())) == {labs.a.id}
        assert session.info[LAB_KEY] is None
        assert session.scalar(select(func.count(LabKey.id))) == 0
        # The platform chain is writable again: the lab-less transaction goes on as before.
        assert session.execute(text("SELECT current_setting('labvault.lab_id', true)")).scalar() == ""


@on_pg
def test_declared_lab_ends_when_its_block_fails(platform: Platform, labs: Labs) -> None:
    with platform.db.transaction(None) as session:
        with pytest.raises(LookupError), declared_lab(session, labs.a.id):
            raise LookupError("a key check failed")
        assert session.info[LAB_KEY] is None
        assert session.scalar(select(func.count(LabKey.id))) == 0


def test_a_lab_transaction_cannot_declare_another_lab(platform: Platform, labs: Labs) -> None:
    with platform.db.transaction(labs.a.id) as session:
        with declared_lab(session, labs.a.id):  # its own lab: nothing changes
            assert session.info[LAB_KEY] == labs.a.id
        with pytest.raises(TenantScopeError), declared_lab(session, labs.b.id):
            pass
        assert session.info[LAB_KEY] == labs.a.id
        with pytest.raises(TenantScopeError):
            platform.keys.keyset(session, labs.b.id)  # the key store declares, and is refused
        assert platform.keys.keyset(session, labs.a.id).lab_id == labs.a.id


# --- the audit log: what a platform transaction may append ---------------------------------------


def event(chain: str, lab_id: uuid.UUID | None, actor_id: uuid.UUID | None) -> dict[str, Any]:
    """An event row (not chained: the rollback throws it away)."""
    return {
        "chain": chain,
        "chain_seq": next(FAR_AHEAD),
        "at": utcnow(),
        "lab_id": lab_id,
        "actor_id": actor_id,
        "actor_label": "rls-test",
        "role": "technician",
        "action": "auth.login_failed",
        "object_type": "user",
        "object_id": None,
        "purpose": "administration",
        "origin": "127.0.0.1",
        "detail": {},
        "patient_id": None,
        "prev_hash": bytes(32),
        "entry_hash": bytes(32),
    }


@on_pg
def test_a_platform_transaction_appends_to_a_lab_chain_only_for_that_labs_accounts(
    labs: Labs, conn: Connection
) -> None:
    events = table_of(AuditEvent)
    a = str(labs.a.id)

    def append(row: dict[str, Any]) -> Any:
        return insert(events).values(**row)

    # What remains open: the platform chain, and a lab account's own events on its lab's chain.
    assert not refused(conn, append(event(PLATFORM_CHAIN, None, labs.operator)))
    assert not refused(conn, append(event(PLATFORM_CHAIN, None, None)))  # an unknown user's failure
    assert not refused(conn, append(event(a, labs.a.id, labs.a_user)))
    # Another lab's account, an operator or nobody: not into lab A's chain.
    assert refused(conn, append(event(a, labs.a.id, labs.b_user)))
    assert refused(conn, append(event(a, labs.a.id, labs.operator)))
    assert refused(conn, append(event(a, labs.a.id, None)))
    # An event is on its own lab's chain (no lab: the platform's).
    assert refused(conn, append(event(PLATFORM_CHAIN, labs.a.id, labs.a_user)))
    assert refused(conn, append(event(a, None, labs.operator)))


@on_pg
def test_a_lab_transaction_appends_only_to_its_own_chain(labs: Labs, conn: Connection) -> None:
    events = table_of(AuditEvent)
    as_lab(conn, labs.a.id)
    assert not refused(conn, insert(events).values(**event(str(labs.a.id), labs.a.id, labs.a_user)))
    assert refused(conn, insert(events).values(**event(str(labs.b.id), labs.a.id, labs.a_user)))
    assert refused(conn, insert(events).values(**event(str(labs.b.id), labs.b.id, labs.b_user)))
    assert refused(conn, insert(events).values(**event(PLATFORM_CHAIN, None, labs.operator)))


# --- the step itself -------------------------------------------------------------------------------


@on_pg
def test_the_step_drops_a_policy_the_code_no_longer_has(platform: Platform) -> None:
    """A permissive policy left behind (an older version, a hand-made one) would open the wall."""
    with platform.db.owner_engine.begin() as owner:
        owner.execute(text("CREATE POLICY labvault_stale ON lab_keys FOR SELECT USING (true)"))
    try:
        apply_row_level_security(platform.db.owner_engine, metadata())
        with platform.db.owner_engine.connect() as owner:
            left = owner.execute(
                text("SELECT count(*) FROM pg_policies WHERE policyname = 'labvault_stale'")
            ).scalar_one()
        assert left == 0
    finally:
        with platform.db.owner_engine.begin() as owner:
            owner.execute(text("DROP POLICY IF EXISTS labvault_stale ON lab_keys"))
