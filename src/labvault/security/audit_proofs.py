"""What a witness checks an audit chain with: signed heads, inclusion and consistency proofs.

Who may ask: the holders of ``audit.read``, the platform operator for every chain and a lab admin
for their own lab's chain only (another lab's chain is "not found", as any object of another lab).
Answers carry sizes and hashes, never an event's content, so these reads are not themselves
audited: a witness polling every minute would otherwise grow the very log it watches.

Proof hashes are computed from the stored entry hashes, O(size) per proof; the client checks them
against a root it holds signed, so a tampered database yields a proof that fails, never a lie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from labvault.errors import InvalidInput, NotFound
from labvault.security import merkle
from labvault.security.access import AccessContext, Role
from labvault.security.audit import read_leaves
from labvault.security.checkpoint import StoredCheckpoint
from labvault.security.models import AuditEvent, AuditHead
from labvault.security.permissions import Permission
from labvault.security.policy import require

_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
_HEADS: Table = AuditHead.__table__  # type: ignore[assignment]
_CHAIN = re.compile(r"[A-Za-z0-9-]{1,36}")


@dataclass(frozen=True)
class SignedHead:
    chain: str
    origin: str
    size: int
    root: bytes
    note: str  # the signed note itself, byte for byte: what a witness verifies and co-signs


@dataclass(frozen=True)
class InclusionProof:
    chain: str
    seq: int  # the entry's chain_seq (1-based); its Merkle leaf index is seq - 1
    size: int
    leaf: bytes  # the leaf data: the entry's stored entry_hash
    leaf_hash: bytes  # SHA-256(0x00 || leaf)
    proof: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    chain: str
    first: int
    second: int
    proof: list[bytes]


def visible_chains(ctx: AccessContext) -> set[str] | None:
    """The chains this caller may watch (None: every chain)."""
    require(ctx, Permission.AUDIT_READ)
    if ctx.role is Role.PLATFORM_OPERATOR:
        return None
    return {str(ctx.lab_id)}


def signed_heads(ctx: AccessContext, stored: dict[str, StoredCheckpoint] | None) -> list[SignedHead]:
    visible = visible_chains(ctx)
    return [
        SignedHead(chain, s.checkpoint.origin, s.checkpoint.size, s.checkpoint.root, s.note)
        for chain, s in sorted((stored or {}).items())
        if visible is None or chain in visible
    ]


def _chain_size(session: Session, ctx: AccessContext, chain: str) -> int:
    if not _CHAIN.fullmatch(chain):
        raise InvalidInput("chain", "a lab id or 'platform'")
    visible = visible_chains(ctx)
    size = session.scalar(select(_HEADS.c.last_seq).where(_HEADS.c.chain == chain))
    if size is None or (visible is not None and chain not in visible):
        raise NotFound(f"no audit chain {chain}")
    return int(size)


def _check_size(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidInput(name, f"must be between {low} and {high}")


def inclusion(session: Session, ctx: AccessContext, chain: str, seq: int, size: int) -> InclusionProof:
    """Entry ``seq`` is leaf ``seq - 1`` of the chain's tree of ``size`` leaves."""
    current = _chain_size(session, ctx, chain)
    _check_size("size", size, 1, current)
    _check_size("seq", seq, 1, size)
    leaves = read_leaves(session, chain, 0, size)
    leaf = session.scalar(
        select(_EVENTS.c.entry_hash).where(_EVENTS.c.chain == chain, _EVENTS.c.chain_seq == seq)
    )
    assert leaf is not None  # read_leaves found every entry up to size
    proof = merkle.prove_inclusion(seq - 1, size, merkle.hasher_over(leaves))
    return InclusionProof(chain, seq, size, leaf, leaves[seq - 1], proof)


def consistency(
    session: Session, ctx: AccessContext, chain: str, first: int, second: int
) -> ConsistencyProof:
    """The chain's tree of ``second`` leaves extends its tree of ``first`` leaves."""
    current = _chain_size(session, ctx, chain)
    _check_size("second", second, 1, current)
    _check_size("first", first, 1, second)
    leaves = read_leaves(session, chain, 0, second)
    return ConsistencyProof(
        chain, first, second, merkle.prove_consistency(first, second, merkle.hasher_over(leaves))
    )
