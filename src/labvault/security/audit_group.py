"""Group commit of the audit events of reads: many requests' events appended to their chains in one
transaction, the way a database groups the flushes of its log.

A read (security/gate.py :meth:`Gate.read`) runs in a read-only transaction, which takes no write
lock, and hands its events over on the way out; it is answered only once they are committed. The
first reader to arrive writes (the leader): it takes every event waiting, appends each unit's events
in a savepoint of one transaction per lab (the chain, its Merkle frontier and the access watch
exactly as a single append: security/audit.py), commits once, and releases each waiting reader with
its own outcome. Meanwhile the next readers queue; when it is done, the leader hands the queue to
the first of them and returns. One write lock and one commit (one fsync, with ``synchronous=FULL``)
serve a whole group instead of one each.

A unit whose events the watch refuses (a read budget's hard limit) has its savepoint rolled back
and gets its refusal (HTTP 429); the others of the group are not affected. If the transaction
cannot commit, every unit of it gets :class:`~labvault.security.audit.AuditUnavailable`: nothing
it read is answered.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from labvault.crypto.keyset import LabKeySet
from labvault.keys.store import used_in
from labvault.security import audit
from labvault.security.audit import Deferred
from labvault.store.database import Database


@dataclass
class _Unit:
    """One read unit's events, and what became of them."""

    lab_id: uuid.UUID
    keys: LabKeySet | None
    events: Sequence[Deferred]
    error: BaseException | None = None
    committed: bool = False
    done: bool = False
    lead: bool = False
    wake: threading.Event = field(default_factory=threading.Event)


class GroupCommit:
    """The leader/follower queue of one database (one per process: :func:`group_of`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._queue: list[_Unit] = []
        self._leading = False

    def commit(self, lab_id: uuid.UUID, keys: LabKeySet | None, events: Sequence[Deferred]) -> None:
        """Append ``events`` (one read unit's) to the lab's chain; returns once they are committed,
        or raises what refused them."""
        if not events:
            return
        unit = _Unit(lab_id, keys, events)
        with self._lock:
            self._queue.append(unit)
            if not self._leading:
                self._leading = unit.lead = True
        while not unit.done:
            if unit.lead:
                self._lead()
                break
            unit.wake.wait()
            unit.wake.clear()
        if unit.error is not None:
            raise unit.error

    def _lead(self) -> None:
        with self._lock:
            group, self._queue = self._queue, []
        try:
            self._write(group)
        finally:
            for unit in group:
                if not unit.committed and unit.error is None:  # interrupted: never answer it
                    unit.error = audit.AuditUnavailable(f"audit chain {unit.lab_id} was not written")
                unit.done = True
                unit.wake.set()
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _write(self, group: list[_Unit]) -> None:
        by_lab: dict[uuid.UUID, list[_Unit]] = {}
        for unit in group:
            by_lab.setdefault(unit.lab_id, []).append(unit)
        for lab_id, units in by_lab.items():
            try:
                self._write_lab(lab_id, units)
            except Exception as exc:  # the commit failed: nothing of this lab's units stands
                error = exc if isinstance(exc, audit.AuditUnavailable) else _unavailable(lab_id, exc)
                for unit in units:
                    unit.error = unit.error or error
                continue
            for unit in units:
                unit.committed = unit.error is None

    def _write_lab(self, lab_id: uuid.UUID, units: list[_Unit]) -> None:
        """One transaction: the chain head read once and held (security/audit.py ``hold``), each
        unit in a savepoint, the head written once."""
        chain = str(lab_id)
        with self.db.transaction(lab_id) as session:
            cursor = audit.hold(session, chain)
            try:
                for unit in units:
                    if unit.keys is not None:
                        used_in(session, unit.keys)  # the canary check's index key, without a query
                    before = cursor.mark()
                    savepoint = session.begin_nested()
                    try:
                        for event in unit.events:
                            audit.append_many(session, event.ctx, event.records, on_lab=event.on_lab)
                        savepoint.commit()
                    except Exception as exc:  # refused (a read budget) or unwritable: this unit only
                        savepoint.rollback()
                        cursor.reset(before)
                        unit.error = exc
                cursor.save(session)
            finally:
                audit.release(session, chain)
        # A failure to commit raises out of the ``with``: _write gives it to every unit.


def _unavailable(lab_id: uuid.UUID, exc: Exception) -> audit.AuditUnavailable:
    return audit.AuditUnavailable(f"audit chain {lab_id} cannot be written ({type(exc).__name__})")


_GROUPS: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def group_of(db: Database) -> GroupCommit:
    """The database's group commit, in this process."""
    with _GROUPS_LOCK:
        group = _GROUPS.get(db)
        if group is None:
            group = _GROUPS[db] = GroupCommit(db)
        return group
