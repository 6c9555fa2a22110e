"""An audit witness: holds the server to every checkpoint it ever signed.

Whoever can write the server's checkpoint directory can roll it back to an older, genuine state,
and whoever holds the signing key can sign a rewritten log; nothing on the server can tell. A
witness on another machine can: it polls ``GET /api/v1/audit/checkpoints`` with a token holding
``audit.read``, verifies every note (and the manifest, if served) with the key pinned out of band,
and compares every chain with the last checkpoint it accepted:

- same size: the same root, or two signed trees of one size exist (a fork);
- larger: the server's RFC 9162 consistency proof between the two sizes must join the accepted
  root and the new one, checked here with ``merkle.py`` (a rewritten history cannot pass);
- smaller: a rollback; a chain accepted before and no longer served: missing.

New chains are recorded. Only a round where everything holds replaces the state (atomically); on
any problem the state stays as it was, so the next round compares with the same accepted past.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from labvault.security import merkle
from labvault.security.signed_checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteVerifier,
    open_checkpoint,
    open_manifest,
    origin_of,
)
from labvault.security.witness_fetch import FetchFailed, Served, fetch_checkpoints, fetch_consistency
from labvault.security.witness_result import ChainOutcome, Kind, Problem, RoundResult
from labvault.security.witness_state import AcceptedHead, WitnessState, load_state, save_state, state_lock

__all__ = ["Witness", "check_chain", "check_manifest", "open_notes"]


def open_notes(verifier: NoteVerifier, served: Served, problems: list[Problem]) -> dict[str, Checkpoint]:
    """Every served note that the pinned key signed, for the chain it is served as."""
    opened: dict[str, Checkpoint] = {}
    for chain, note in sorted(served.notes.items()):
        try:
            opened[chain] = open_checkpoint(verifier, note, origin_of(chain))
        except CheckpointError as exc:
            problems.append(Problem(Kind.BAD_SIGNATURE, chain, str(exc)))
    return opened


def check_manifest(
    verifier: NoteVerifier, served: Served, opened: dict[str, Checkpoint], previous: WitnessState | None
) -> list[Problem]:
    """The served manifest signed by the pinned key and matching the notes exactly. A server that
    served a manifest before and serves none now is refused: the set of chains went unsigned."""
    if served.manifest is None:
        if previous is not None and previous.manifest is not None:
            return [Problem(Kind.MANIFEST_MISMATCH, None, "no signed manifest served, one was before")]
        return []
    try:
        manifest = open_manifest(verifier, served.manifest)
    except CheckpointError as exc:
        return [Problem(Kind.BAD_SIGNATURE, None, f"manifest: {exc}")]
    problems: list[Problem] = []
    for chain in sorted(manifest.heads.keys() | served.notes.keys()):
        if chain not in served.notes:
            problems.append(Problem(Kind.MISSING_CHAIN, chain, "in the signed manifest, but not served"))
        elif chain not in manifest.heads:
            problems.append(Problem(Kind.MANIFEST_MISMATCH, chain, "served, but not in the signed manifest"))
        elif chain in opened and (opened[chain].size, opened[chain].root) != manifest.heads[chain]:
            problems.append(
                Problem(Kind.MANIFEST_MISMATCH, chain, "its note differs from the signed manifest")
            )
    return problems


def check_chain(
    client: httpx.Client, chain: str, old: AcceptedHead | None, new: Checkpoint
) -> Problem | ChainOutcome:
    """Compare a verified new checkpoint with the one accepted before (None: a new chain)."""
    outcome = ChainOutcome(chain, new.size, old.size if old else None)
    if old is None or (new.size > old.size and old.size == 0):  # every tree extends the empty one
        return outcome
    if new.size == old.size:
        if new.root != old.root:
            return Problem(Kind.FORK, chain, f"two signed trees of size {new.size} with different roots")
        return outcome
    if new.size < old.size:
        return Problem(Kind.ROLLBACK, chain, f"signed at size {new.size}, but {old.size} was accepted")
    try:
        proof = fetch_consistency(client, chain, old.size, new.size)
        merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except FetchFailed as exc:
        return Problem(exc.kind, chain, f"consistency proof {old.size} -> {new.size}: {exc.detail}")
    except merkle.ProofError as exc:
        return Problem(
            Kind.BAD_PROOF, chain, f"the tree of {new.size} does not extend the accepted {old.size}: {exc}"
        )
    return outcome


class Witness:
    """One witness: a client of one server, the pinned verifier key, and the state file."""

    def __init__(self, client: httpx.Client, public_key: str, state_path: Path) -> None:
        """``client`` carries the server's base URL and the bearer token; ``public_key`` is the
        ``labvault-audit+<id>+<key>`` string pinned out of band (CheckpointError if malformed)."""
        self.client = client
        self.verifier = NoteVerifier.parse(public_key)
        self.state_path = state_path

    def state(self) -> WitnessState | None:
        """The last accepted state (WitnessStateError if the file is unreadable or foreign)."""
        return load_state(self.state_path, self.verifier)

    def run_once(self) -> RoundResult:
        """Fetch, verify, compare; write the new state only if nothing is wrong. One round at a
        time per state file (an exclusive lock from reading the state to writing it): a cron run
        overlapping a ``--rounds`` loop could otherwise replace a newer state with an older view."""
        with state_lock(self.state_path):
            return self._round()

    def _round(self) -> RoundResult:
        previous = self.state()
        result = RoundResult()
        try:
            served = fetch_checkpoints(self.client)
        except FetchFailed as exc:
            result.problems.append(Problem(exc.kind, None, exc.detail))
            return result
        opened = open_notes(self.verifier, served, result.problems)
        result.problems.extend(check_manifest(self.verifier, served, opened, previous))
        known = previous.chains if previous is not None else {}
        for chain in sorted(known.keys() - served.notes.keys()):
            detail = f"accepted at size {known[chain].size}, no longer served"
            result.problems.append(Problem(Kind.MISSING_CHAIN, chain, detail))
        for chain, checkpoint in sorted(opened.items()):
            checked = check_chain(self.client, chain, known.get(chain), checkpoint)
            if isinstance(checked, Problem):
                result.problems.append(checked)
            else:
                result.chains.append(checked)
        if result.ok:
            heads = {
                chain: AcceptedHead(cp.size, cp.root, served.notes[chain]) for chain, cp in opened.items()
            }
            now = dt.datetime.now(dt.UTC)
            save_state(self.state_path, WitnessState(self.verifier.vkey(), heads, served.manifest, now))
            result.state_written = True
        return result
