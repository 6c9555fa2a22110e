"""The one access gate: every transaction a service opens, each kind named and decided here first.

A service never calls ``db.transaction`` itself. It asks the gate for the kind of transaction it
needs, and the gate decides with the policy (security/policy.py) before opening it:

- :meth:`Gate.lab`: one lab's data, with its keys and row-link sealing bound (:class:`LabUnit`);
- :meth:`Gate.read`: the same for a read, in a read-only transaction whose audit events are
  group-committed (security/audit_group.py);
- :meth:`Gate.lab_rows`: one lab's rows that hold no sealed field (no keys loaded, :class:`LabRows`);
- :meth:`Gate.platform`: an operator's (or a lab admin's) action on the platform's tables;
- :meth:`Gate.named_lab`: the lab a request names, not the caller's own: one lab's accounts, the
  operator entering a lab under a support grant;
- :meth:`Gate.own_chain`: the caller's own scope, to record what happened to them;
- :meth:`Gate.lookup`, :meth:`Gate.sign_in`, :meth:`Gate.maintenance`: where no one is decided on
  yet (a lookup that precedes the decision, a sign-in, platform maintenance across labs).

Services keep their constructors and build their gate themselves (``Gate(db, keys)``); a service
without the key store (alerts, account actions, the audit verifier) builds ``Gate(db)`` and never
opens a :meth:`Gate.lab` unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from labvault.crypto.keyset import LabKeySet
from labvault.keys.store import KeyStore
from labvault.security import audit, policy
from labvault.security.access import AccessContext
from labvault.security.audit_group import group_of
from labvault.security.permissions import Permission
from labvault.store.bound_links import bind_session
from labvault.store.database import Database, Transactions


@dataclass(frozen=True)
class LabUnit:
    """One transaction of one lab: its session, its keys (bound for row-link sealing), its id."""

    session: Session
    keys: LabKeySet
    lab_id: uuid.UUID


@dataclass(frozen=True)
class LabRows:
    """One transaction of one lab, without its keys: its session and its id."""

    session: Session
    lab_id: uuid.UUID


class Gate:
    """Authorise, then open: the only place services open transactions."""

    def __init__(self, db: Transactions, keys: KeyStore | None = None) -> None:
        """``db``: the platform's Database, or a Rehearsal of it (store/database.py)."""
        self.db = db
        self.keys = keys

    def _decide_lab(self, ctx: AccessContext, permission: Permission, own_orders: bool) -> uuid.UUID:
        if own_orders:
            policy.require_own_orders(ctx, permission)
        else:
            policy.require_lab(ctx, permission)
        assert ctx.lab_id is not None  # both refuse a context without a laboratory
        return ctx.lab_id

    @contextmanager
    def lab(
        self, ctx: AccessContext, permission: Permission, *, own_orders: bool = False
    ) -> Iterator[LabUnit]:
        """The caller's lab, once the policy allows ``permission`` there. ``own_orders``: a read
        that then decides each order it shows, or selects only the caller's own
        (:func:`~labvault.security.policy.prescriber_of`): a prescriber passes here and is held to
        their orders there. Every row with sealed links loaded in the unit is checked, every one
        written sealed (store/bound_links.py)."""
        with self._lab_unit(self._decide_lab(ctx, permission, own_orders)) as unit:
            yield unit

    @contextmanager
    def read(
        self, ctx: AccessContext, permission: Permission, *, own_orders: bool = False
    ) -> Iterator[LabUnit]:
        """A read of the caller's lab, decided as :meth:`lab`, in a read-only transaction (no write
        lock): its audit events are appended by the group commit (security/audit_group.py) when the
        unit ends, and the unit ends only once they are committed, or raises what refused them.
        For a unit that writes nothing but its audit events (PostgreSQL refuses any other write)."""
        if not isinstance(self.db, Database):  # a rehearsal: it commits nothing anyway
            with self.lab(ctx, permission, own_orders=own_orders) as unit:
                yield unit
            return
        events: list[audit.Deferred] = []
        with self._lab_unit(self._decide_lab(ctx, permission, own_orders), read_only=True) as unit:
            unit.session.info[audit.DEFERRED] = events
            yield unit
        group_of(self.db).commit(unit.lab_id, unit.keys, events)

    @contextmanager
    def _lab_unit(self, lab_id: uuid.UUID, *, read_only: bool = False) -> Iterator[LabUnit]:
        """The decided lab's transaction with its keys loaded and row-link sealing bound."""
        if self.keys is None:
            raise TypeError("this gate was built without the key store: it opens no lab unit")
        with self.db.transaction(lab_id, read_only=read_only) as session:
            keys = self.keys.keyset(session, lab_id)
            bind_session(session, keys)
            yield LabUnit(session, keys, lab_id)

    @contextmanager
    def lab_rows(self, ctx: AccessContext, permission: Permission) -> Iterator[LabRows]:
        """The caller's lab, decided as :meth:`lab`, without loading its keys: for rows that hold no
        sealed field and no sealed link (alerts, account actions, a support grant's dates)."""
        lab_id = self._decide_lab(ctx, permission, False)
        with self.db.transaction(lab_id) as session:
            yield LabRows(session, lab_id)

    @contextmanager
    def platform(
        self, ctx: AccessContext, permission: Permission, *, lab_id: uuid.UUID | None = None
    ) -> Iterator[Session]:
        """A platform transaction (no lab: the platform's tables, a lab's rows only where declared)
        for ``permission``; ``lab_id``: the action is on that lab's platform rows (its keys, its
        catalogue), the operator's or that lab's own caller's to take."""
        policy.require(ctx, permission)
        if lab_id is not None:
            policy.require_lab_object(ctx, lab_id, f"laboratory {lab_id}")
        with self.db.transaction(None) as session:
            yield session

    @contextmanager
    def named_lab(self, ctx: AccessContext, lab_id: uuid.UUID | None) -> Iterator[Session]:
        """The transaction of the lab a request names (None: the platform's), whose chain records
        the action and whose admins see it: an account of that lab managed by its admin or the
        operator, the operator entering it under a support grant. Another lab's is as absent as
        a missing one; what may be done to which account is decided on the account itself."""
        if lab_id is not None:
            policy.require_lab_object(ctx, lab_id, f"laboratory {lab_id}")
        with self.db.transaction(lab_id) as session:
            yield session

    @contextmanager
    def own_chain(self, ctx: AccessContext) -> Iterator[Session]:
        """The caller's own scope (their lab, or the platform's for an operator), to record what
        happened to them (a refused request): it reads no one's data, so nothing is decided."""
        with self.db.transaction(ctx.lab_id) as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A platform transaction read before any decision, or needing none: which lab a code or
        an account belongs to, whether a username is taken, a lab's active catalogue."""
        with self.db.transaction(None) as session:
            yield session

    @contextmanager
    def sign_in(self, *, read_only: bool = False) -> Iterator[Session]:
        """A platform transaction of the sign-in path and of one's own credentials (tokens,
        second factors, security keys): no context yet, the credential checks decide.
        ``read_only``: a token's resolution, which writes nothing (no write lock)."""
        with self.db.transaction(None, read_only=read_only) as session:
            yield session

    @contextmanager
    def maintenance(self) -> Iterator[Session]:
        """Platform maintenance across labs, as the owner (audit verification and checkpoints)."""
        with self.db.transaction(None, unscoped=True) as session:
            yield session
