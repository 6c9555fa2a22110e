"""What a witness polls to hold the platform to its audit log: signed checkpoints and proofs.

Callers: holders of ``audit.read`` with a bearer token, i.e. the platform operator (every chain)
and a lab admin (their lab's chain; another lab's chain is 404). The answers carry sizes and
hashes only. Verify them with the key ``labvault audit pubkey`` prints, pinned out of band:

- ``checkpoints``: each chain's latest signed note (``c2sp.org/tlog-checkpoint``, Ed25519) and, for
  the platform operator, the signed manifest listing every chain (``labvault audit witness``);
- ``proof/inclusion``: entry ``seq`` (1-based ``chain_seq``) is leaf ``seq - 1`` of the tree of ``size``;
- ``proof/consistency``: the tree of ``second`` entries extends the tree of ``first`` (RFC 9162).

Hashes are base64, as in the checkpoint notes.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from labvault.web.bounds import SAFE_INT_MAX
from labvault.web.deps import Ctx, PlatformDep

router = APIRouter(prefix="/audit", tags=["audit"])

ChainParam = Annotated[
    str, Query(pattern=r"^[A-Za-z0-9-]{1,36}$", description="A lab id, or 'platform' (operator only)")
]
Count = Annotated[int, Query(ge=1, le=SAFE_INT_MAX)]  # chain_seq is a BIGINT


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class SignedCheckpointOut(BaseModel):
    chain: str
    origin: str = Field(description="The log's name in the signed note: labvault/<chain>")
    size: int
    root: str = Field(description="Merkle root (RFC 6962), base64")
    note: str = Field(description="The signed note, byte for byte: verify this, not the fields")


class CheckpointsOut(BaseModel):
    public_key: str = Field(description="The signer's key as served; pin the one you got out of band")
    checkpoints: list[SignedCheckpointOut]
    manifest: str | None = Field(
        default=None,
        description="The signed manifest note (every chain's size and root; platform operator only)",
    )


class InclusionOut(BaseModel):
    chain: str
    seq: int
    leaf_index: int
    size: int
    leaf: str = Field(description="The leaf data: the entry's entry_hash, base64")
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), base64")
    proof: list[str]


class ConsistencyOut(BaseModel):
    chain: str
    first: int
    second: int
    proof: list[str]


@router.get("/checkpoints", response_model=CheckpointsOut)
def checkpoints(ctx: Ctx, platform: PlatformDep) -> CheckpointsOut:
    """The latest signed checkpoint of every chain the caller may watch."""
    heads, manifest = platform.audit.witness_view(ctx)
    return CheckpointsOut(
        public_key=platform.audit.public_key(),
        checkpoints=[
            SignedCheckpointOut(chain=h.chain, origin=h.origin, size=h.size, root=b64(h.root), note=h.note)
            for h in heads
        ],
        manifest=manifest,
    )


@router.get("/proof/inclusion", response_model=InclusionOut)
def inclusion_proof(
    chain: ChainParam, seq: Count, size: Count, ctx: Ctx, platform: PlatformDep
) -> InclusionOut:
    proof = platform.audit.inclusion_proof(ctx, chain, seq, size)
    return InclusionOut(
        chain=proof.chain,
        seq=proof.seq,
        leaf_index=proof.seq - 1,
        size=proof.size,
        leaf=b64(proof.leaf),
        leaf_hash=b64(proof.leaf_hash),
        proof=[b64(h) for h in proof.proof],
    )


@router.get("/proof/consistency", response_model=ConsistencyOut)
def consistency_proof(
    chain: ChainParam, first: Count, second: Count, ctx: Ctx, platform: PlatformDep
) -> ConsistencyOut:
    proof = platform.audit.consistency_proof(ctx, chain, first, second)
    return ConsistencyOut(
        chain=proof.chain, first=proof.first, second=proof.second, proof=[b64(h) for h in proof.proof]
    )
