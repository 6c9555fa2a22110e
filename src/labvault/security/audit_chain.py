"""Pure hash-chain logic of the audit log: canonical encoding, entry hashes, verification.

``entry_hash = SHA-256(prev_hash || canonical JSON of the entry)``; the first entry of a chain
links to 32 zero bytes. Any edit, deletion or reordering breaks a link. The entry hashes are also
the leaves of the chain's RFC 6962 Merkle tree: a truncation of the tail, or a chain rewritten
consistently, is caught by comparing that tree with a checkpoint signed outside the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from labvault.security.merkle import Frontier, leaf_hash

GENESIS = bytes(32)


def canonical_time(at: dt.datetime) -> str:
    """UTC, microsecond ISO form; naive datetimes (SQLite) are UTC already."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class ChainEntry:
    """The hashed content of one audit event, independent of how it is stored."""

    chain: str
    chain_seq: int
    at: dt.datetime
    lab_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    actor_label: str
    role: str
    action: str
    object_type: str
    object_id: str | None
    purpose: str
    origin: str
    detail: dict[str, Any]
    patient_id: uuid.UUID | None = None

    def canonical(self) -> bytes:
        body = {
            "chain": self.chain,
            "seq": self.chain_seq,
            "at": canonical_time(self.at),
            "lab": str(self.lab_id) if self.lab_id else None,
            "actor": str(self.actor_id) if self.actor_id else None,
            "actor_label": self.actor_label,
            "role": self.role,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "purpose": self.purpose,
            "origin": self.origin,
            "detail": self.detail,
        }
        if self.patient_id is not None:
            # Only when set: entries written before events named their patient hash as they did.
            body["patient"] = str(self.patient_id)
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(prev_hash: bytes, entry: ChainEntry) -> bytes:
    return hashlib.sha256(prev_hash + entry.canonical()).digest()


@dataclass(frozen=True)
class StoredEntry:
    entry: ChainEntry
    prev_hash: bytes
    entry_hash: bytes


@dataclass
class ChainReport:
    """Outcome of verifying one chain: its length, tip and Merkle frontier up to the first break,
    and the Merkle root the walk saw at the size it was asked to remember (a signed checkpoint's)."""

    chain: str
    length: int = 0
    last_hash: bytes = GENESIS
    problems: list[str] = field(default_factory=list)
    frontier: Frontier = field(default_factory=Frontier)
    root_at: dict[int, bytes] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_entries(chain: str, entries: Iterable[StoredEntry], remember: int | None = None) -> ChainReport:
    """Walk a chain in stored order; report the first break of each kind with its position.
    The Merkle tree is grown along the way; its root at size ``remember`` is kept."""
    report = ChainReport(chain)
    if remember == 0:
        report.root_at[0] = report.frontier.root()
    expected_seq = 1
    prev = GENESIS
    for stored in entries:
        seq = stored.entry.chain_seq
        if seq != expected_seq:
            report.problems.append(f"entry {expected_seq} missing or out of order (found {seq})")
            return report
        if stored.prev_hash != prev:
            report.problems.append(f"entry {seq} does not link to entry {seq - 1}")
            return report
        if entry_hash(prev, stored.entry) != stored.entry_hash:
            report.problems.append(f"entry {seq} was modified (hash mismatch)")
            return report
        prev = stored.entry_hash
        report.length = seq
        report.last_hash = prev
        report.frontier.append(leaf_hash(prev))
        if seq == remember:
            report.root_at[seq] = report.frontier.root()
        expected_seq += 1
    return report
