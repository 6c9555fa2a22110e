"""The signed checkpoints kept outside the database, one per audit chain, in one file.

Each chain's entry is its latest signed note (``c2sp.org/tlog-checkpoint``, Ed25519) and, as a
cache, the Merkle frontier at that size, so the next checkpoint proves consistency from the new
entries alone. Beside them, one signed :class:`Manifest` note lists every chain with its size and
root: the notes are signed one by one (witnesses poll them one by one), so without it whoever can
write this directory could drop one chain's note and have that chain taken for "never signed".
The file is read only once the manifest's signature verifies and the chain notes match it exactly.
The frontier is checked against the signed root before use, and the ``key`` field is informational
(a verifier pins the public key it got elsewhere, never the one lying next to the checkpoints).

The whole file is replaced atomically. Whoever can write this directory can at most roll it back
to an older, genuine state: witnesses that poll ``/api/v1/audit/checkpoints`` keep the history.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labvault.security.merkle import Frontier, ProofError
from labvault.security.signed_checkpoint import (
    Checkpoint,
    CheckpointError,
    Manifest,
    NoteVerifier,
    open_checkpoint,
    open_manifest,
    origin_of,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointError",
    "SignedState",
    "StoredCheckpoint",
    "read_checkpoints",
    "read_signed_state",
    "write_checkpoints",
]

CHECKPOINT_FILE = "audit-checkpoint.json"
LOCK_FILE = ".audit-checkpoint.lock"
FORMAT = "labvault-audit-checkpoints/3"
_CHAIN = re.compile(r"[A-Za-z0-9-]{1,36}")


@dataclass(frozen=True)
class StoredCheckpoint:
    """A chain's verified signed note, and the frontier at its size when it checks out."""

    note: str
    checkpoint: Checkpoint
    frontier: Frontier | None


@dataclass(frozen=True)
class SignedState:
    """The verified manifest and, matching it exactly, every chain's verified checkpoint."""

    manifest: Manifest
    chains: dict[str, StoredCheckpoint]
    manifest_note: str  # the signed note itself, byte for byte: what a witness verifies

    @property
    def written_at(self) -> dt.datetime:
        return self.manifest.written_at


@contextmanager
def signing_lock(directory: Path) -> Iterator[None]:
    """One signer at a time (the server's periodic checkpoint, its shutdown checkpoint, `labvault
    audit checkpoint`): each reads the last signed state, checks its trees extend it and writes.
    Interleaved, a signer holding older (smaller) trees could replace a newer file: a signed
    rollback that witnesses would rightly report. Under the lock the later signer sees the newer
    state and refuses its smaller trees."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_checkpoints(
    directory: Path, vkey: str, manifest: str, chains: dict[str, tuple[str, Frontier]]
) -> Path:
    """Atomically replace the file with this signed manifest and these signed notes (and their
    frontiers). The caller signs the manifest over exactly these chains."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = {
        "format": FORMAT,
        "manifest": manifest,
        "key": vkey,
        "chains": {
            chain: {"note": note, "frontier": [node.hex() for node in frontier.nodes]}
            for chain, (note, frontier) in sorted(chains.items())
        },
    }
    path = directory / CHECKPOINT_FILE
    # A temporary name of its own: the server's periodic checkpoint and `labvault audit checkpoint`
    # may write at the same time; each replaces the file whole.
    fd, temp_name = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=directory)
    temp = Path(temp_name)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    return path


def _frontier(entry: dict[str, object], checkpoint: Checkpoint) -> Frontier | None:
    try:
        nodes = entry.get("frontier")
        if not isinstance(nodes, list):
            return None
        frontier = Frontier.from_bytes(checkpoint.size, b"".join(bytes.fromhex(str(n)) for n in nodes))
    except (ValueError, ProofError):
        return None
    return frontier if frontier.root() == checkpoint.root else None


def read_checkpoints(directory: Path, verifier: NoteVerifier) -> dict[str, StoredCheckpoint] | None:
    """Every chain's checkpoint (see :func:`read_signed_state`); None if none was ever written."""
    state = read_signed_state(directory, verifier)
    return None if state is None else state.chains


def read_signed_state(directory: Path, verifier: NoteVerifier) -> SignedState | None:
    """The signed manifest and every chain's checkpoint, signatures verified and the chain notes
    matching the manifest exactly; None if no checkpoint was ever written. Raises
    :class:`CheckpointError` on any unreadable, forged, foreign, missing or extra note."""
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text())
        if document.get("format") != FORMAT:
            raise CheckpointError(f"not in the {FORMAT} format (a signed manifest is required)")
        manifest_note = str(document["manifest"])
        manifest = open_manifest(verifier, manifest_note)
        entries = document["chains"]
        out: dict[str, StoredCheckpoint] = {}
        for chain, entry in entries.items():
            if not _CHAIN.fullmatch(chain):
                raise CheckpointError("it names an impossible chain")
            if chain not in manifest.heads:
                raise CheckpointError(f"chain {chain} has a note but is not in the signed manifest")
            note = str(entry["note"])
            checkpoint = open_checkpoint(verifier, note, origin_of(chain))
            if (checkpoint.size, checkpoint.root) != manifest.heads[chain]:
                raise CheckpointError(f"chain {chain}'s note does not match the signed manifest")
            out[chain] = StoredCheckpoint(note, checkpoint, _frontier(entry, checkpoint))
        for chain in sorted(manifest.heads.keys() - out.keys()):
            raise CheckpointError(f"chain {chain} is in the signed manifest but its note is missing")
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint {path} refused: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable: {exc.__class__.__name__}") from None
    return SignedState(manifest, out, manifest_note)
