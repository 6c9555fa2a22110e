"""The audit log as services use it: append in the caller's transaction.

"No audit, no data": events are written in the same transaction as the read or write they record,
so if the event cannot be written the transaction fails and nothing is returned or stored.

Each chain is also an RFC 6962 Merkle tree whose leaves are the entry hashes: appends keep the
tree's frontier on the chain head (O(log n) hashes, in the statement that already moves the head),
so a signed checkpoint never needs to read the log (audit_verifier.py).

Every batch is shown to the access watch the platform registered on the database at start-up
(:func:`register_watch`; oversight/access_watch.py: canaries, read budgets, unusual access). With
none registered the log refuses to append, so monitoring can never be silently off.
"""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from labvault.errors import LabvaultError
from labvault.security.access import AccessContext
from labvault.security.audit_chain import GENESIS, ChainEntry, StoredEntry, entry_hash
from labvault.security.merkle import Frontier, ProofError, leaf_hash
from labvault.security.models import PLATFORM_CHAIN, AuditEvent, AuditHead
from labvault.store.base import utcnow
from labvault.store.database import Database

_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
_HEADS: Table = AuditHead.__table__  # type: ignore[assignment]


class AuditUnavailable(LabvaultError):
    """The audit event could not be written: the access it records is refused."""


@dataclass(frozen=True)
class AuditRecord:
    """One event to append: what was done to which object, with non-personal details only."""

    action: str
    object_type: str
    object_id: str | None = None
    detail: dict[str, Any] | None = None
    # The patient whose record this event reads or writes (pseudonymous id): feeds the patient's
    # access log and the per-user read budgets.
    patient_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Deferred:
    """One call of :func:`append_many` made in a read unit (security/gate.py ``Gate.read``): its
    events are appended by the group commit (security/audit_group.py) once the unit is over."""

    ctx: AccessContext
    records: tuple[AuditRecord, ...]
    on_lab: uuid.UUID | None


# A read unit's session holds the list its events wait in (append_many writes nothing there).
DEFERRED = "labvault.deferred_audit"

# What sees every appended batch, in its transaction: (session, context, records, batch time, the
# chain's last sequence number). It may raise to refuse the access (a hard read budget: 429).
Watch = Callable[[Session, AccessContext, Sequence[AuditRecord], dt.datetime, int], None]
_WATCHES: weakref.WeakKeyDictionary[Engine, Watch] = weakref.WeakKeyDictionary()


def register_watch(db: Database, watch: Watch) -> None:
    """Show every batch appended through ``db`` (any of its engines) to ``watch``, replacing any."""
    for engine in {db.engine, db.owner_engine}:
        _WATCHES[engine] = watch


def _watch_of(session: Session) -> Watch:
    bind = session.get_bind()
    watch = _WATCHES.get(bind.engine if isinstance(bind, Connection) else bind)
    if watch is None:
        raise AuditUnavailable(
            "no access watch is registered on this database: nothing is recorded unwatched"
        )
    return watch


def chain_of(ctx: AccessContext) -> str:
    return str(ctx.lab_id) if ctx.lab_id else PLATFORM_CHAIN


def create_chain(session: Session, chain: str) -> None:
    """Start an empty chain (done when a lab is created, and for the platform by the migration)."""
    session.execute(insert(_HEADS).values(chain=chain, last_seq=0, last_hash=GENESIS, merkle_frontier=b""))


def lock_chain(session: Session, ctx: AccessContext) -> None:
    """Take the chain head's row lock now: serialises check-then-write sequences of one lab
    (duplicate checks, revision checks) on PostgreSQL; SQLite's BEGIN IMMEDIATE already does."""
    session.connection().execute(_LOCK_HEAD, {"head_chain": chain_of(ctx)})


def append(
    session: Session, ctx: AccessContext, record: AuditRecord, *, on_lab: uuid.UUID | None = None
) -> None:
    append_many(session, ctx, [record], on_lab=on_lab)


def append_many(
    session: Session,
    ctx: AccessContext,
    records: Sequence[AuditRecord],
    *,
    on_lab: uuid.UUID | None = None,
) -> None:
    """Append events to the context's chain; locks the chain head until the transaction ends.
    Any failure to write them is :class:`AuditUnavailable`: the caller's access fails with it.
    In a read unit, the events wait for the unit's end, then the group commit appends them (the
    read is answered only once they are committed).

    ``on_lab``: a platform context (an operator) acting on one lab's accounts records it on that
    lab's chain, where the lab's own auditors see it (in a transaction of that lab)."""
    if not records:
        return
    if on_lab is not None and ctx.lab_id not in (None, on_lab):
        raise ValueError("a laboratory's context records on its own chain only")
    lab_id = ctx.lab_id or on_lab
    chain = str(lab_id) if lab_id else PLATFORM_CHAIN
    watch = _watch_of(session)
    deferred: list[Deferred] | None = session.info.get(DEFERRED)
    if deferred is not None:
        deferred.append(Deferred(ctx, tuple(records), on_lab))
        return
    try:
        held = held_cursor(session, chain)
        cursor = held or ChainCursor.lock(session, chain)
        at = utcnow()
        rows = cursor.advance(ctx, lab_id, records, at)
        if held is None:
            _insert(session, rows)
            cursor.save(session)
        else:
            cursor.pending.extend(rows)  # inserted with the group's (flush_held)
        # Canaries, read budgets, unusual access (may refuse: 429).
        watch(session, ctx, records, at, cursor.seq)
    except DBAPIError as exc:
        raise AuditUnavailable(f"audit chain {chain} cannot be written ({exc.__class__.__name__})") from None


# Statements built once (their compiled form is cached by SQLAlchemy) and run on the session's
# connection: the audit tables are no lab's tables (store/tenancy.py has nothing to add), and on
# PostgreSQL row-level security holds them to the transaction's lab as for any statement.
_LOCK_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(last_seq=_HEADS.c.last_seq)
    .returning(_HEADS.c.last_seq, _HEADS.c.last_hash, _HEADS.c.merkle_frontier)
)
_SAVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(
        last_seq=bindparam("head_seq"),
        last_hash=bindparam("head_hash"),
        merkle_frontier=bindparam("head_frontier"),
    )
)
_INSERT_EVENTS = insert(_EVENTS)
_HELD = "labvault.held_chains"


class ChainCursor:
    """A chain's head as one transaction holds it: locked (the row's lock on PostgreSQL, the write
    lock on SQLite) until the transaction ends, moved forward in memory, written back by :meth:`save`.
    """

    def __init__(self, chain: str, seq: int, last_hash: bytes, frontier: Frontier) -> None:
        self.chain, self.seq, self.last_hash, self.frontier = chain, seq, last_hash, frontier
        self.pending: list[dict[str, Any]] = []  # held: rows appended, not inserted yet

    @classmethod
    def lock(cls, session: Session, chain: str) -> ChainCursor:
        head = session.connection().execute(_LOCK_HEAD, {"head_chain": chain}).first()
        if head is None:
            raise AuditUnavailable(f"audit chain {chain} does not exist")
        try:
            frontier = Frontier.from_bytes(head.last_seq, head.merkle_frontier)
        except ProofError:
            raise AuditUnavailable(f"audit chain {chain} has a malformed Merkle frontier") from None
        return cls(chain, head.last_seq, head.last_hash, frontier)

    def mark(self) -> CursorMark:
        """Where the cursor is, to go back to if what follows is rolled back (a savepoint)."""
        return CursorMark(self.seq, self.last_hash, self.frontier.to_bytes(), tuple(self.pending))

    def reset(self, mark: CursorMark) -> None:
        """Back to ``mark`` after its savepoint was rolled back: rows pending then are pending
        again, even those a flush inserted since (the rollback took them out of the table)."""
        self.seq, self.last_hash = mark.seq, mark.last_hash
        self.frontier = Frontier.from_bytes(mark.seq, mark.frontier)
        self.pending = list(mark.pending)

    def advance(
        self, ctx: AccessContext, lab_id: uuid.UUID | None, records: Sequence[AuditRecord], at: dt.datetime
    ) -> list[dict[str, Any]]:
        """The rows of ``records`` as the next entries of the chain; the cursor moves past them."""
        rows: list[dict[str, Any]] = []
        for record in records:
            self.seq += 1
            entry = ChainEntry(
                chain=self.chain,
                chain_seq=self.seq,
                at=at,
                lab_id=lab_id,
                actor_id=ctx.actor_id,
                actor_label=ctx.actor_label,
                role=ctx.role.value,
                action=record.action,
                object_type=record.object_type,
                object_id=record.object_id,
                purpose=ctx.purpose.value,
                origin=ctx.origin,
                detail=record.detail or {},
                patient_id=record.patient_id,
            )
            digest = entry_hash(self.last_hash, entry)
            # The stored row is the hashed entry plus its links: the column names are the field names.
            rows.append({**vars(entry), "prev_hash": self.last_hash, "entry_hash": digest})
            self.frontier.append(leaf_hash(digest))
            self.last_hash = digest
        return rows

    def flush(self, session: Session) -> None:
        """Insert the rows kept pending (a held cursor's); they stay pending if the insert fails."""
        rows, self.pending = self.pending, []
        try:
            _insert(session, rows)
        except BaseException:
            self.pending = rows + self.pending
            raise

    def save(self, session: Session) -> None:
        """Write the head back, a held cursor's pending rows first."""
        self.flush(session)
        session.connection().execute(
            _SAVE_HEAD,
            {
                "head_chain": self.chain,
                "head_seq": self.seq,
                "head_hash": self.last_hash,
                "head_frontier": self.frontier.to_bytes(),
            },
        )


@dataclass(frozen=True)
class CursorMark:
    seq: int
    last_hash: bytes
    frontier: bytes
    pending: tuple[dict[str, Any], ...]


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(_INSERT_EVENTS, rows)


def flush_held(session: Session) -> None:
    """Insert the rows held cursors keep pending: before anything in the transaction reads the
    events table (the watch's rare look-ups of the log), and by the group before it commits."""
    for cursor in session.info.get(_HELD, {}).values():
        cursor.flush(session)


def held_cursor(session: Session, chain: str) -> ChainCursor | None:
    """The cursor a group commit holds on ``chain`` in this session, if any (security/audit_group.py):
    every append of the transaction, the watch's alerts included, moves it, and the group writes
    the head once at the end."""
    held: dict[str, ChainCursor] = session.info.get(_HELD, {})
    return held.get(chain)


def hold(session: Session, chain: str) -> ChainCursor:
    """Lock ``chain``'s head for the rest of the session's transaction and hold it in memory: the
    caller writes it back with :meth:`ChainCursor.save` before committing."""
    cursor = held_cursor(session, chain)
    if cursor is None:
        cursor = ChainCursor.lock(session, chain)
        session.info.setdefault(_HELD, {})[chain] = cursor
    return cursor


def release(session: Session, chain: str) -> None:
    session.info.get(_HELD, {}).pop(chain, None)


def stored_entry(row: Any) -> StoredEntry:
    entry = ChainEntry(
        chain=row.chain,
        chain_seq=row.chain_seq,
        at=row.at,
        lab_id=row.lab_id,
        actor_id=row.actor_id,
        actor_label=row.actor_label,
        role=row.role,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        purpose=row.purpose,
        origin=row.origin,
        detail=row.detail,
        patient_id=row.patient_id,
    )
    return StoredEntry(entry, row.prev_hash, row.entry_hash)


def read_leaves(session: Session, chain: str, after: int, upto: int) -> list[bytes]:
    """Leaf hashes of entries ``after + 1 .. upto`` (Merkle leaves ``after .. upto - 1``);
    a gap or a duplicate in the stored sequence is :class:`AuditUnavailable`."""
    rows = session.execute(
        select(_EVENTS.c.chain_seq, _EVENTS.c.entry_hash)
        .where(_EVENTS.c.chain == chain, _EVENTS.c.chain_seq > after, _EVENTS.c.chain_seq <= upto)
        .order_by(_EVENTS.c.chain_seq)
    ).all()
    if [row.chain_seq for row in rows] != list(range(after + 1, upto + 1)):
        raise AuditUnavailable(f"audit chain {chain} is missing entries between {after + 1} and {upto}")
    return [leaf_hash(row.entry_hash) for row in rows]
