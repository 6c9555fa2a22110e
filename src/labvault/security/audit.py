"""The audit log as services use it: append in the caller's transaction, verify, checkpoint.

"No audit, no data": events are written in the same transaction as the read or write they record,
so if the event cannot be written the transaction fails and nothing is returned or stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from labvault.errors import LabvaultError
from labvault.security.access import AccessContext
from labvault.security.audit_chain import (
    GENESIS,
    ChainEntry,
    ChainReport,
    StoredEntry,
    entry_hash,
    verify_entries,
)
from labvault.security.checkpoint import ChainTip, read_checkpoint, write_checkpoint
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


def chain_of(ctx: AccessContext) -> str:
    return str(ctx.lab_id) if ctx.lab_id else PLATFORM_CHAIN


def create_chain(session: Session, chain: str) -> None:
    """Start an empty chain (done when a lab is created, and for the platform by the migration)."""
    session.execute(insert(_HEADS).values(chain=chain, last_seq=0, last_hash=GENESIS))


def lock_chain(session: Session, ctx: AccessContext) -> None:
    """Take the chain head's row lock now: serialises check-then-write sequences of one lab
    (duplicate checks, revision checks) on PostgreSQL; SQLite's BEGIN IMMEDIATE already does."""
    session.execute(update(_HEADS).where(_HEADS.c.chain == chain_of(ctx)).values(last_seq=_HEADS.c.last_seq))


def append(session: Session, ctx: AccessContext, record: AuditRecord) -> None:
    append_many(session, ctx, [record])


def append_many(session: Session, ctx: AccessContext, records: Sequence[AuditRecord]) -> None:
    """Append events to the context's chain; locks the chain head until the transaction ends."""
    if not records:
        return
    chain = chain_of(ctx)
    head = session.execute(
        update(_HEADS)
        .where(_HEADS.c.chain == chain)
        .values(last_seq=_HEADS.c.last_seq + len(records))
        .returning(_HEADS.c.last_seq, _HEADS.c.last_hash)
    ).first()
    if head is None:
        raise AuditUnavailable(f"audit chain {chain} does not exist")
    seq = head.last_seq - len(records)
    prev = head.last_hash
    at = utcnow()
    rows: list[dict[str, Any]] = []
    for record in records:
        seq += 1
        entry = ChainEntry(
            chain=chain,
            chain_seq=seq,
            at=at,
            lab_id=ctx.lab_id,
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
        digest = entry_hash(prev, entry)
        # The stored row is the hashed entry plus its links: the column names are the field names.
        rows.append({**vars(entry), "prev_hash": prev, "entry_hash": digest})
        prev = digest
    session.execute(insert(_EVENTS), rows)
    session.execute(update(_HEADS).where(_HEADS.c.chain == chain).values(last_hash=prev))


def _stored(row: Any) -> StoredEntry:
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


@dataclass
class VerifyResult:
    reports: list[ChainReport]
    checkpoint_found: bool

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.reports)

    @property
    def problems(self) -> list[str]:
        return [f"chain {r.chain}: {p}" for r in self.reports for p in r.problems]


class AuditVerifier:
    """Checks every chain against itself, its head row, and the external checkpoint."""

    def __init__(self, db: Database, checkpoint_dir: Path, mac_key: bytes) -> None:
        self.db = db
        self.checkpoint_dir = checkpoint_dir
        self.mac_key = mac_key

    def _entries(
        self, session: Session, chain: str, want_position: int, seen: dict[int, bytes]
    ) -> Generator[StoredEntry]:
        result = session.execute(
            select(_EVENTS).where(_EVENTS.c.chain == chain).order_by(_EVENTS.c.chain_seq),
            execution_options={"yield_per": 2000},
        )
        try:
            for row in result:
                stored = _stored(row)
                if stored.entry.chain_seq == want_position:
                    seen[want_position] = stored.entry_hash
                yield stored
        finally:
            result.close()

    def verify(self) -> VerifyResult:
        tips = read_checkpoint(self.checkpoint_dir, self.mac_key)
        reports: list[ChainReport] = []
        with self.db.transaction(None) as session:
            heads = {row.chain: row for row in session.execute(select(_HEADS))}
            chains = set(heads) | set(session.scalars(select(_EVENTS.c.chain).distinct()))
            for chain in sorted(chains | set(tips or {})):
                want = tips.get(chain) if tips else None
                seen: dict[int, bytes] = {0: GENESIS}
                report = verify_entries(
                    chain, self._entries(session, chain, want.length if want else -1, seen)
                )
                head = heads.get(chain)
                if head is None:
                    report.problems.append("chain head row is missing")
                elif report.ok and (head.last_seq != report.length or head.last_hash != report.last_hash):
                    report.problems.append(
                        f"chain head says {head.last_seq} entries but the log holds {report.length}"
                    )
                if want is not None and report.ok:
                    if report.length < want.length:
                        report.problems.append(
                            f"log truncated: checkpoint saw {want.length} entries, log holds {report.length}"
                        )
                    elif seen.get(want.length) != want.last_hash:
                        report.problems.append(f"entry {want.length} differs from the checkpoint")
                reports.append(report)
        return VerifyResult(reports, tips is not None)

    def checkpoint_heads(self) -> Path:
        """Record the current chain tips without a full walk (cheap; the server does it every
        minute), but only if each chain still extends the previous checkpoint: a log rewritten
        since (entries deleted and the chain recomputed) is refused, not blessed."""
        previous = read_checkpoint(self.checkpoint_dir, self.mac_key) or {}
        with self.db.transaction(None) as session:
            tips = {
                row.chain: ChainTip(row.last_seq, row.last_hash) for row in session.execute(select(_HEADS))
            }
            for chain, old in previous.items():
                new = tips.get(chain)
                if new is None or new.length < old.length:
                    raise AuditUnavailable(f"chain {chain} is shorter than its checkpoint; not checkpointing")
                if (
                    old.length
                    and session.scalar(
                        select(_EVENTS.c.entry_hash).where(
                            _EVENTS.c.chain == chain, _EVENTS.c.chain_seq == old.length
                        )
                    )
                    != old.last_hash
                ):
                    raise AuditUnavailable(
                        f"chain {chain} no longer extends its checkpoint; not checkpointing"
                    )
        return write_checkpoint(self.checkpoint_dir, self.mac_key, tips)

    def checkpoint(self) -> Path:
        """Verify, then record the current tips outside the database. Refuses on a broken log."""
        result = self.verify()
        if not result.ok:
            raise AuditUnavailable("audit log failed verification; checkpoint not written")
        tips = {r.chain: ChainTip(r.length, r.last_hash) for r in result.reports}
        return write_checkpoint(self.checkpoint_dir, self.mac_key, tips)
