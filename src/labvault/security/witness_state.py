"""What a witness remembers between rounds: the last checkpoint it accepted for every chain.

The state is the witness's own evidence, so it lives on the witness's machine and is replaced only
whole (temporary file, fsync, rename, then fsync of the directory), mode 0600, after a round in
which every check passed. Per chain it keeps the size, the root and the signed note itself (the
note is what proves, to anyone holding the public key, that the server once signed that state);
beside them, the signed manifest if the server served one, and the verifier key the state was
accepted under: a state is never checked against another key than the one it was built with.

On load every note is opened again with the pinned key and must carry the recorded size and root:
a note, size or root edited by hand, or a state written for another server, is refused rather than
trusted. Whoever can write the file can still delete a chain's entry (the chain then looks new) or
put an older genuine state back: the state is evidence only as long as its machine is the
witness's own, which is the point of running it elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labvault.errors import LabvaultError
from labvault.security.signed_checkpoint import (
    CheckpointError,
    NoteVerifier,
    open_checkpoint,
    open_manifest,
    origin_of,
)

FORMAT = "labvault-witness-state/1"


class WitnessStateError(LabvaultError):
    """The state file is unreadable, edited, or was written for another verifier key."""


@dataclass(frozen=True)
class AcceptedHead:
    """One chain's last accepted checkpoint: its size, root and signed note."""

    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class WitnessState:
    """Every chain's last accepted checkpoint, and the last accepted manifest note (if served)."""

    public_key: str
    chains: dict[str, AcceptedHead] = field(default_factory=dict)
    manifest: str | None = None
    accepted_at: dt.datetime | None = None


def to_document(state: WitnessState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "public_key": state.public_key,
        "accepted_at": state.accepted_at.isoformat(timespec="seconds") if state.accepted_at else None,
        "manifest": state.manifest,
        "chains": {
            chain: {"size": head.size, "root": base64.b64encode(head.root).decode(), "note": head.note}
            for chain, head in sorted(state.chains.items())
        },
    }


def _head(verifier: NoteVerifier, chain: str, entry: Any) -> AcceptedHead:
    """A recorded chain, its note opened again: the recorded size and root must be the note's."""
    if not isinstance(entry, dict):
        raise WitnessStateError(f"chain {chain}: not an object")
    note, size, root = entry.get("note"), entry.get("size"), entry.get("root")
    if not isinstance(note, str) or not isinstance(size, int) or not isinstance(root, str):
        raise WitnessStateError(f"chain {chain}: size, root and note are required")
    try:
        checkpoint = open_checkpoint(verifier, note, origin_of(chain))
        digest = base64.b64decode(root, validate=True)
    except (CheckpointError, binascii.Error) as exc:
        raise WitnessStateError(f"chain {chain}: {exc}") from None
    if (checkpoint.size, checkpoint.root) != (size, digest):
        raise WitnessStateError(f"chain {chain}: the recorded size and root are not the note's")
    return AcceptedHead(size, digest, note)


def from_document(document: Any, verifier: NoteVerifier) -> WitnessState:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise WitnessStateError(f"not a {FORMAT} document")
    if document.get("public_key") != verifier.vkey():
        raise WitnessStateError(
            f"it was written for key {document.get('public_key')!r}, not the pinned {verifier.vkey()!r}"
        )
    chains = document.get("chains")
    if not isinstance(chains, dict):
        raise WitnessStateError("no chains")
    manifest = document.get("manifest")
    if manifest is not None:
        if not isinstance(manifest, str):
            raise WitnessStateError("the manifest is not a note")
        try:
            open_manifest(verifier, manifest)
        except CheckpointError as exc:
            raise WitnessStateError(f"manifest: {exc}") from None
    accepted_at = document.get("accepted_at")
    try:
        when = dt.datetime.fromisoformat(accepted_at) if isinstance(accepted_at, str) else None
    except ValueError:
        raise WitnessStateError("accepted_at is not ISO 8601") from None
    heads = {str(chain): _head(verifier, str(chain), entry) for chain, entry in chains.items()}
    return WitnessState(verifier.vkey(), heads, manifest, when)


def load_state(path: Path, verifier: NoteVerifier) -> WitnessState | None:
    """The state recorded at ``path``; None if the witness never completed a round there."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WitnessStateError(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WitnessStateError(f"{path} is not JSON (line {exc.lineno})") from None
    try:
        return from_document(document, verifier)
    except WitnessStateError as exc:
        raise WitnessStateError(f"witness state {path} refused: {exc}") from None


@contextmanager
def state_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<state>.lock`` for one round (load, checks, save)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_state(path: Path, state: WitnessState) -> None:
    """Replace the state file whole: a crash leaves the old state or the new one, never a mix."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(json.dumps(to_document(state), indent=2, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
