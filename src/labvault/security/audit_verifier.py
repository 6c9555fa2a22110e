"""Verifying the audit log and signing its checkpoints.

``verify`` walks every chain link by link, rebuilds its RFC 6962 Merkle tree and compares it with
the chain head and with the last signed checkpoint (signature checked with a public key only).
``checkpoint`` / ``checkpoint_heads`` sign ``(labvault/<chain>, size, root)`` with the platform's
Ed25519 key, outside the database, and refuse to sign a tree that an RFC 9162 consistency proof
does not show to extend the previous signed one: whoever rewrites the database can recompute the
hash chain and the frontier, but cannot re-sign, and cannot get a rewritten log blessed.

A signed manifest covers the set of chains, so no chain's checkpoint can be dropped from the file.
A chain absent from the previous manifest is signed only if its first entry is later than that
manifest (a lab created since): a chain that existed then but is missing from it is refused. Event
times are in the database, so an attacker there can fake them; this only stops the honest-looking
case, the real defences are the signed manifest and the witnesses that keep every signed state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from labvault.security import audit_proofs, merkle
from labvault.security.access import AccessContext
from labvault.security.audit import AuditUnavailable, read_leaves, stored_entry
from labvault.security.audit_chain import ChainReport, StoredEntry, verify_entries
from labvault.security.checkpoint import (
    SignedState,
    StoredCheckpoint,
    read_signed_state,
    signing_lock,
    write_checkpoints,
)
from labvault.security.gate import Gate
from labvault.security.merkle import Frontier, ProofError
from labvault.security.models import AuditEvent, AuditHead
from labvault.security.signed_checkpoint import (
    Checkpoint,
    CheckpointError,
    Manifest,
    NoteSigner,
    NoteVerifier,
    origin_of,
)
from labvault.store.database import Database

_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
_HEADS: Table = AuditHead.__table__  # type: ignore[assignment]
# A lab's first event is stamped inside its creation transaction, which may commit after a
# checkpoint's snapshot began: a chain that new is still taken for new, not for one left out.
NEW_CHAIN_SLACK = dt.timedelta(seconds=60)


@dataclass
class VerifyResult:
    reports: list[ChainReport]
    checkpoint_found: bool
    signed: dict[str, Checkpoint] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.reports)

    @property
    def problems(self) -> list[str]:
        return [f"chain {r.chain}: {p}" for r in self.reports for p in r.problems]


class AuditVerifier:
    """Checks every chain against itself, its head row and the signed checkpoints; signs new ones."""

    def __init__(self, db: Database, checkpoint_dir: Path, signer: NoteSigner) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.signer = signer
        self.gate = Gate(db)

    @property
    def verifier(self) -> NoteVerifier:
        return self.signer.verifier

    def public_key(self) -> str:
        """The verifier key a witness pins: ``labvault-audit+<key id>+<base64 key>``."""
        return self.verifier.vkey()

    def signed_state(self, verifier: NoteVerifier | None = None) -> SignedState | None:
        return read_signed_state(self.checkpoint_dir, verifier or self.verifier)

    @staticmethod
    def _left_out(session: Session, chain: str, state: SignedState) -> str | None:
        """Why a chain absent from the signed manifest cannot be new since, if it cannot."""
        first = session.execute(
            select(_EVENTS.c.at).where(_EVENTS.c.chain == chain).order_by(_EVENTS.c.chain_seq).limit(1)
        ).scalar_one_or_none()
        if first is None or first > state.written_at - NEW_CHAIN_SLACK:
            return None
        return (
            f"chain {chain} is missing from the signed manifest of "
            f"{state.written_at.isoformat()} but its first entry is older ({first.isoformat()})"
        )

    def _entries(self, session: Session, chain: str) -> Generator[StoredEntry]:
        result = session.execute(
            select(_EVENTS).where(_EVENTS.c.chain == chain).order_by(_EVENTS.c.chain_seq),
            execution_options={"yield_per": 2000},
        )
        try:
            for row in result:
                yield stored_entry(row)
        finally:
            result.close()

    def verify(self, verifier: NoteVerifier | None = None) -> VerifyResult:
        """Walk every chain link by link, rebuild its Merkle tree, and compare with the head row
        and with the last signed checkpoint (its signature checked with ``verifier``, by default
        the platform's own public key). A forged checkpoint raises :class:`CheckpointError`."""
        state = self.signed_state(verifier)
        signed = state.chains if state is not None else None
        reports: list[ChainReport] = []
        with self.gate.maintenance() as session:
            heads = {row.chain: row for row in session.execute(select(_HEADS))}
            chains = set(heads) | set(session.scalars(select(_EVENTS.c.chain).distinct()))
            for chain in sorted(chains | set(signed or {})):
                want = signed[chain].checkpoint if signed and chain in signed else None
                report = verify_entries(chain, self._entries(session, chain), want.size if want else None)
                links_ok = report.ok
                self._compare_head(report, heads.get(chain))
                left_out = self._left_out(session, chain, state) if state and want is None else None
                if left_out is not None:
                    report.problems.append(left_out)
                if want is not None and links_ok:
                    if report.length < want.size:
                        report.problems.append(
                            f"log truncated: the signed checkpoint has {want.size} entries, "
                            f"the log holds {report.length}"
                        )
                    elif report.root_at.get(want.size) != want.root:
                        report.problems.append(
                            f"the first {want.size} entries do not match the signed checkpoint "
                            "(Merkle root differs: rewritten log)"
                        )
                reports.append(report)
        checkpoints = {chain: stored.checkpoint for chain, stored in (signed or {}).items()}
        return VerifyResult(reports, signed is not None, checkpoints)

    @staticmethod
    def _compare_head(report: ChainReport, head: Any) -> None:
        if head is None:
            report.problems.append("chain head row is missing")
        elif report.ok and (head.last_seq != report.length or head.last_hash != report.last_hash):
            report.problems.append(
                f"chain head says {head.last_seq} entries but the log holds {report.length}"
            )
        elif report.ok and head.merkle_frontier != report.frontier.to_bytes():
            report.problems.append("chain head's Merkle frontier does not match the log")

    def checkpoint(self) -> Path:
        """Verify the whole log, then sign every chain's tree. Refuses on a broken log."""
        taken_at = dt.datetime.now(dt.UTC)  # before the reads: what the manifest says it covers
        result = self.verify()
        if not result.ok:
            raise AuditUnavailable("audit log failed verification; checkpoint not written")
        return self._sign({r.chain: r.frontier for r in result.reports}, taken_at)

    def checkpoint_heads(self) -> Path:
        """Sign the trees the chain heads hold, without a full walk (cheap: the server does it
        every minute), but only where each extends the previous signed checkpoint, shown by an
        RFC 9162 consistency proof built from the new entries: a log rewritten since is refused.

        The heads are read under the signing lock: several server processes sign the same heads
        (``serve --workers N``), and a signer that read them before waiting for the lock would hold
        trees older than those the previous holder just signed, refused as a rollback (a false
        alarm) or, at equal sizes, a manifest dated before the one it replaces."""
        with signing_lock(self.checkpoint_dir):
            taken_at = dt.datetime.now(dt.UTC)
            with self.gate.maintenance() as session:
                trees: dict[str, Frontier] = {}
                for row in session.execute(select(_HEADS)):
                    try:
                        trees[row.chain] = Frontier.from_bytes(row.last_seq, row.merkle_frontier)
                    except ProofError:
                        raise AuditUnavailable(
                            f"chain {row.chain} holds a malformed Merkle frontier"
                        ) from None
            return self._sign_locked(trees, taken_at)

    def _sign(self, trees: dict[str, Frontier], taken_at: dt.datetime) -> Path:
        with signing_lock(self.checkpoint_dir):
            return self._sign_locked(trees, taken_at)

    def _sign_locked(self, trees: dict[str, Frontier], taken_at: dt.datetime) -> Path:
        state = self.signed_state()
        previous = state.chains if state is not None else {}
        notes: dict[str, tuple[str, Frontier]] = {}
        with self.gate.maintenance() as session:
            for chain, stored in previous.items():
                if chain not in trees:
                    raise AuditUnavailable(f"chain {chain} has a signed checkpoint but no longer exists")
                self._check_extends(session, chain, stored, trees[chain])
            for chain in sorted(trees.keys() - previous.keys()):
                left_out = self._left_out(session, chain, state) if state is not None else None
                if left_out is not None:
                    raise AuditUnavailable(f"{left_out}; not signing")
        for chain, tree in trees.items():
            old = previous.get(chain)
            if old is not None and old.checkpoint.size == tree.size:  # checked equal above: keep it
                notes[chain] = (old.note, tree)
            else:
                checkpoint = Checkpoint(origin_of(chain), tree.size, tree.root())
                notes[chain] = (self.signer.sign(checkpoint.text()), tree)
        manifest = Manifest(taken_at, {chain: (tree.size, tree.root()) for chain, tree in trees.items()})
        return write_checkpoints(
            self.checkpoint_dir, self.public_key(), self.signer.sign(manifest.text()), notes
        )

    def _check_extends(self, session: Session, chain: str, old: StoredCheckpoint, new: Frontier) -> None:
        m, n = old.checkpoint.size, new.size
        if n < m:
            raise AuditUnavailable(
                f"chain {chain} is shorter than its signed checkpoint ({n} < {m}); not signing"
            )
        if m == 0:
            return  # every tree extends the empty one
        if m == n:
            if new.root() != old.checkpoint.root:
                raise AuditUnavailable(f"chain {chain} no longer matches its signed checkpoint; not signing")
            return
        known = old.frontier or self._rebuilt_frontier(session, chain, old.checkpoint)
        nodes = dict(zip(known.ranges(), known.nodes, strict=True))
        leaves = read_leaves(session, chain, m, n)

        def subtree(lo: int, hi: int) -> bytes:
            # Every subtree of the proof lies in the old tree (one of its frontier nodes) or
            # in the new entries.
            return nodes[(lo, hi)] if hi <= m else merkle.root_of(leaves[lo - m : hi - m])

        proof = merkle.prove_consistency(m, n, subtree)
        try:
            merkle.verify_consistency(m, n, proof, old.checkpoint.root, new.root())
        except ProofError:
            raise AuditUnavailable(
                f"chain {chain} is not consistent with its signed checkpoint; not signing"
            ) from None

    @staticmethod
    def _rebuilt_frontier(session: Session, chain: str, signed: Checkpoint) -> Frontier:
        frontier = Frontier().extend(read_leaves(session, chain, 0, signed.size))
        if frontier.root() != signed.root:
            raise AuditUnavailable(f"chain {chain} no longer extends its signed checkpoint; not signing")
        return frontier

    # --- what witnesses poll (web/routes/audit.py) ---------------------------------------------

    def signed_heads(self, ctx: AccessContext) -> list[audit_proofs.SignedHead]:
        """The latest signed checkpoints of the chains the caller may watch."""
        return self.witness_view(ctx)[0]

    def witness_view(self, ctx: AccessContext) -> tuple[list[audit_proofs.SignedHead], str | None]:
        """The latest signed checkpoints of the chains the caller may watch and, for the platform
        operator only (it names every chain), the signed manifest, from one read of the file: two
        reads could straddle a checkpoint and serve a manifest that does not match the notes."""
        visible = audit_proofs.visible_chains(ctx)
        try:
            state = self.signed_state()
        except CheckpointError as exc:
            raise AuditUnavailable(f"the signed checkpoints cannot be served: {exc}") from None
        heads = audit_proofs.signed_heads(ctx, state.chains if state is not None else None)
        return heads, state.manifest_note if state is not None and visible is None else None

    def inclusion_proof(
        self, ctx: AccessContext, chain: str, seq: int, size: int
    ) -> audit_proofs.InclusionProof:
        with self.gate.maintenance() as session:
            return audit_proofs.inclusion(session, ctx, chain, seq, size)

    def consistency_proof(
        self, ctx: AccessContext, chain: str, first: int, second: int
    ) -> audit_proofs.ConsistencyProof:
        with self.gate.maintenance() as session:
            return audit_proofs.consistency(session, ctx, chain, first, second)
