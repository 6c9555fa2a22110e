"""PostgreSQL row-level security: the second wall between laboratories, under the session filter.

store/tenancy.py filters every ORM query by the session's lab; a bug there (a Core statement, a
forgotten scope) would still cross labs. Here PostgreSQL itself refuses to: every tenant table has
RLS enabled and forced, with a policy that shows and accepts only rows of the lab the transaction
declared (``labvault.lab_id``, set transaction-locally by :func:`bind_transaction`). So do the
lab-owned tables the platform also manages (accounts, wrapped keys, catalogues), with only what a
platform transaction needs beyond that (:data:`PLATFORM_MANAGED`). The application connects as a
role that owns no table and cannot bypass RLS, so it cannot lift the wall.

:func:`apply_row_level_security` runs after every ``alembic upgrade`` (store/migrate.py) and is
idempotent: it rebuilds the policies and grants from the models, so a table added by a later
migration cannot be forgotten.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, Engine, MetaData, Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from labvault.errors import ConfigurationError
from labvault.store.tenancy import tenant_tables as scoped_tables

APP_ROLE = "labvault_app"
# The name of the audit chain of events of no lab (security/models.py): the append policy needs it.
PLATFORM_CHAIN = "platform"
LAB_SETTING = "labvault.lab_id"
MAINTENANCE_SETTING = "labvault.maintenance"

TENANT_POLICY = "labvault_lab_isolation"
MAINTENANCE_POLICY = "labvault_platform_maintenance"
CHAIN_POLICY = "labvault_lab_chain"

# The transaction's lab, or NULL when none is set: '' (unset, or set to "no lab") must not reach
# the uuid cast. NULL matches no row, so "no lab" sees nothing and can write nothing.
CURRENT_LAB = f"NULLIF(current_setting('{LAB_SETTING}', true), '')::uuid"
NO_LAB = f"{CURRENT_LAB} IS NULL"
OWN_LAB = f"lab_id = {CURRENT_LAB}"
IN_MAINTENANCE = f"current_setting('{MAINTENANCE_SETTING}', true) = 'on'"

# Lab-owned tables that platform transactions (no lab) reach too, hence not TenantScoped models
# (whose ORM filter refuses a session without a lab). A lab's transaction is held to its own rows
# by the same policy as on the tenant tables; beyond that, per command, only what a platform
# transaction needs (policy ``labvault_beyond_lab_<command>``; a command not listed: nothing).
PLATFORM_MANAGED: dict[str, dict[str, str]] = {
    # Sign-in finds an account by name, a token its account, an administrator an account by id,
    # before any lab is known: platform transactions read, create and update every account (never
    # delete one). A lab reads the platform operators' accounts, not change them: support grants
    # and the patient access log name them.
    "users": {"SELECT": f"{NO_LAB} OR lab_id IS NULL", "INSERT": NO_LAB, "UPDATE": NO_LAB},
    # Wrapped keys: the key store declares the lab around its own statements in a platform
    # transaction (store/database.py ``declared_lab``), so a platform transaction alone sees none.
    "lab_keys": {},
    # Catalogues: catalog/service.py declares the lab around its statements, as the key store does.
    "lab_catalogs": {},
}
BEYOND_LAB_POLICY = "labvault_beyond_lab_{command}"

# The audit log: a lab's transaction reads and extends only its own chain. A platform transaction
# (no lab) READS only the platform chain: a forgotten filter in a login or account path shows no
# lab's events (which name patients). It appends to the platform chain, and to a lab's chain only
# an event whose actor is an account of that lab (the user's own sign-in, failures, tokens and
# factors; a lab admin's changes to their staff's accounts and to the lab's keys). Every event is on
# the chain of its lab (no lab: the platform's). The verifier and the proofs read every chain as
# the owner, in maintenance (unscoped) transactions. Chain heads hold counts and hashes only.
CHAIN_TABLES = {
    "audit_heads": f"{NO_LAB} OR chain = {CURRENT_LAB}::text",
}
EVENTS_READ = f"{OWN_LAB} OR ({NO_LAB} AND lab_id IS NULL)"
# The actor's lab, through a function: a policy naming ``users`` (or a column added by a later
# migration) would stop the migrations' downgrades from dropping them. It runs as the caller, under
# the caller's own policies on ``users`` (a platform transaction sees every account).
ACCOUNT_LAB_FUNCTION = "labvault_account_lab"
EVENTS_APPEND = (
    f"chain = COALESCE(lab_id::text, '{PLATFORM_CHAIN}') AND ({OWN_LAB} OR ({NO_LAB} AND "
    f"(lab_id IS NULL OR lab_id = {ACCOUNT_LAB_FUNCTION}(actor_id))))"
)
EVENTS_READ_POLICY = "labvault_chain_read"
EVENTS_APPEND_POLICY = "labvault_chain_append"
# What the application may do beyond reading: the audit log is append-only (its trigger refuses
# UPDATE and DELETE for everyone; the app is not even granted them), chain heads move forward.
APP_PRIVILEGES = {
    "audit_events": "SELECT, INSERT",
    "audit_heads": "SELECT, INSERT, UPDATE",
    # Moved by triggers on the accounts and tokens, as their writer (identity/credential_epoch.py).
    "credential_epoch": "SELECT, UPDATE",
}
DEFAULT_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"

_ROLE_TAKEN = {"42710", "23505"}  # duplicate_object; unique_violation when created concurrently


def app_role_url(owner_url: str, role: str = APP_ROLE) -> str:
    """The owner's URL with the application role as user (and no password: local trust auth;
    production sets ``LABVAULT_DATABASE_APP_URL`` with the role's own password)."""
    url = make_url(owner_url).set(username=role, password=None)
    return url.render_as_string(hide_password=False)


def app_role_of(app_url: str | None) -> str:
    """The role the application connects as: the configured app URL's user, else labvault_app."""
    return (make_url(app_url).username if app_url else None) or APP_ROLE


def bind_transaction(connection: Connection, lab_id: uuid.UUID | None, *, maintenance: bool) -> None:
    """Declare the transaction's lab (and, for the owner's unscoped work, maintenance) to the
    policies. Transaction-local: it ends with the transaction, so a pooled connection keeps
    nothing for the next one. One round trip for both settings."""
    connection.execute(
        text("SELECT set_config(:lab_key, :lab, true), set_config(:maint_key, :maint, true)"),
        {
            "lab_key": LAB_SETTING,
            "lab": str(lab_id) if lab_id else "",
            "maint_key": MAINTENANCE_SETTING,
            "maint": "on" if maintenance else "",
        },
    )


def tenant_tables(metadata: MetaData) -> list[Table]:
    """Every table of ``metadata`` (labvault/schema.py: all of them) that a :class:`TenantScoped`
    model maps."""
    scoped = {t.name for t in scoped_tables()}
    return [t for t in metadata.sorted_tables if t.name in scoped]


def _quote(connection: Connection, identifier: str) -> str:
    return str(connection.dialect.identifier_preparer.quote_identifier(identifier))


def ensure_app_role(connection: Connection, role: str) -> None:
    """Create the application role if missing (roles are cluster-wide: several databases may race
    to create it), then refuse one that could lift the wall."""
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if exists is None:
        savepoint = connection.begin_nested()
        try:
            connection.execute(
                text(
                    f"CREATE ROLE {_quote(connection, role)} "
                    "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION"
                )
            )
            savepoint.commit()
        except DBAPIError as error:
            savepoint.rollback()
            if getattr(error.orig, "sqlstate", None) not in _ROLE_TAKEN:
                raise
    row = connection.execute(
        text(
            "SELECT rolsuper, rolbypassrls, rolname = current_user AS is_owner, "
            "rolname = (SELECT pg_get_userbyid(datdba) FROM pg_database "
            "           WHERE datname = current_database()) AS owns_database "
            "FROM pg_roles WHERE rolname = :r"
        ),
        {"r": role},
    ).one()
    if row.rolsuper or row.rolbypassrls or row.is_owner or row.owns_database:
        raise ConfigurationError(
            f"the application role {role!r} must not be a superuser, bypass row-level security, "
            "own the tables or own the database"
        )


def _existing(connection: Connection, schema: str) -> dict[str, str]:
    """Tables present in the schema, with their owner."""
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"
        ),
        {"schema": schema},
    )
    return {row.relname: row.owner for row in rows}


def _grant(connection: Connection, schema: str, tables: list[str], role: str) -> None:
    def q(name: str) -> str:
        return _quote(connection, name)

    database = connection.execute(text("SELECT current_database()")).scalar_one()
    connection.execute(text(f"GRANT CONNECT ON DATABASE {q(database)} TO {q(role)}"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA {q(schema)} TO {q(role)}"))
    # Start from nothing each time, so privileges taken away in the code go away in the database.
    connection.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {q(schema)} FROM {q(role)}"))
    connection.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {q(schema)} FROM {q(role)}"))
    for table in tables:
        privileges = APP_PRIVILEGES.get(table, DEFAULT_PRIVILEGES)
        connection.execute(text(f"GRANT {privileges} ON {q(schema)}.{q(table)} TO {q(role)}"))
    sequences = connection.execute(
        text(
            "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
            "JOIN pg_class t ON t.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass "
            "JOIN pg_namespace n ON n.oid = s.relnamespace "
            "WHERE s.relkind = 'S' AND n.nspname = :schema AND t.relname = ANY(:tables)"
        ),
        {"schema": schema, "tables": tables},
    ).scalars()
    for sequence in sequences:
        connection.execute(text(f"GRANT USAGE ON SEQUENCE {q(schema)}.{q(sequence)} TO {q(role)}"))


def _policy(connection: Connection, table: str, name: str, clause: str, to: str = "PUBLIC") -> None:
    policy, target = _quote(connection, name), _quote(connection, table)
    connection.execute(text(f"DROP POLICY IF EXISTS {policy} ON {target}"))
    connection.execute(
        text(f"CREATE POLICY {policy} ON {target} FOR ALL TO {to} USING ({clause}) WITH CHECK ({clause})")
    )


_CONDITIONS = {
    "SELECT": "USING ({0})",
    "INSERT": "WITH CHECK ({0})",
    "UPDATE": "USING ({0}) WITH CHECK ({0})",  # which rows it reaches, and what they may become
    "DELETE": "USING ({0})",
}


def _command_policy(connection: Connection, table: str, name: str, command: str, clause: str) -> None:
    """A policy for one command: the rows it reaches (USING), the rows it may write (WITH CHECK)."""
    policy, target = _quote(connection, name), _quote(connection, table)
    connection.execute(text(f"DROP POLICY IF EXISTS {policy} ON {target}"))
    condition = _CONDITIONS[command].format(clause)
    connection.execute(text(f"CREATE POLICY {policy} ON {target} FOR {command} TO PUBLIC {condition}"))


def _protect(connection: Connection, table: str) -> None:
    """RLS enabled and forced, and no policy left from an earlier version of this module: the
    caller creates every policy the table has (a policy dropped from the code goes away)."""
    q = _quote(connection, table)
    connection.execute(text(f"ALTER TABLE {q} ENABLE ROW LEVEL SECURITY"))
    # FORCE: the owner is held by the policies too, unless it declares maintenance (below).
    connection.execute(text(f"ALTER TABLE {q} FORCE ROW LEVEL SECURITY"))
    stale = connection.execute(
        text("SELECT policyname FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t"),
        {"t": table},
    ).scalars()
    for name in list(stale):
        connection.execute(text(f"DROP POLICY {_quote(connection, name)} ON {q}"))


def _lab_owned(connection: Connection, name: str, owner: str, beyond_lab: dict[str, str]) -> None:
    """A lab's transaction: its own rows only; the owner in maintenance: every row; platform
    transactions: what ``beyond_lab`` grants, per command."""
    _protect(connection, name)
    _policy(connection, name, TENANT_POLICY, OWN_LAB)
    # Platform maintenance (re-encryption across a lab's tables) runs as the owner and says so per
    # transaction; the application role is not among the roles this policy covers.
    _policy(connection, name, MAINTENANCE_POLICY, IN_MAINTENANCE, to=_quote(connection, owner))
    for command, clause in beyond_lab.items():
        _command_policy(connection, name, BEYOND_LAB_POLICY.format(command=command.lower()), command, clause)


def _account_lab_function(connection: Connection, schema: str) -> None:
    """The lab of an account (NULL: a platform account, or none), for the append policy."""
    q = _quote(connection, schema)
    body = f"SELECT lab_id FROM {q}.users WHERE id = account"  # noqa: S608 - a quoted identifier only
    connection.execute(
        text(
            f"CREATE OR REPLACE FUNCTION {q}.{ACCOUNT_LAB_FUNCTION}(account uuid) RETURNS uuid "
            f"LANGUAGE sql STABLE PARALLEL SAFE AS $$ {body} $$"
        )
    )


def apply_row_level_security(engine: Engine, metadata: MetaData, app_role: str = APP_ROLE) -> list[str]:
    """Create or refresh the app role's grants and the policies on the tables of ``metadata``
    (labvault/schema.py: every table); returns the lab-owned tables
    protected (tenant and platform-managed). Run as the owner of the tables, after every upgrade;
    safe to run again."""
    if engine.dialect.name != "postgresql":
        return []
    tenant = [t.name for t in tenant_tables(metadata)]
    with engine.begin() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        existing = _existing(connection, schema)
        ensure_app_role(connection, app_role)
        owned = sorted(name for name, owner in existing.items() if owner == app_role)
        if owned:
            raise ConfigurationError(f"the application role {app_role!r} owns tables: {', '.join(owned)}")
        mapped = [t.name for t in metadata.sorted_tables if t.name in existing]
        _grant(connection, schema, mapped, app_role)
        lab_owned: dict[str, dict[str, str]] = {name: {} for name in tenant} | PLATFORM_MANAGED
        protected = sorted(name for name in lab_owned if name in existing)
        for name in protected:
            _lab_owned(connection, name, existing[name], lab_owned[name])
        for name, clause in CHAIN_TABLES.items():
            if name in existing:
                _protect(connection, name)
                _policy(connection, name, CHAIN_POLICY, clause)
        if "audit_events" in existing:
            _protect(connection, "audit_events")
            _account_lab_function(connection, schema)
            _command_policy(connection, "audit_events", EVENTS_READ_POLICY, "SELECT", EVENTS_READ)
            _command_policy(connection, "audit_events", EVENTS_APPEND_POLICY, "INSERT", EVENTS_APPEND)
            owner = _quote(connection, existing["audit_events"])
            _policy(connection, "audit_events", MAINTENANCE_POLICY, IN_MAINTENANCE, to=owner)
    return protected
