"""Audit checkpoints kept outside the database, so deleting the tail of the log is detectable.

The file holds, per chain, the length and last hash seen by the last verified write, and a MAC
under a key derived from the root key: whoever can edit the database cannot forge it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from labvault.crypto.kdf import hmac_sha256
from labvault.errors import LabvaultError

CHECKPOINT_FILE = "audit-checkpoint.json"


class CheckpointError(LabvaultError):
    """The checkpoint file is unreadable or its MAC does not verify."""


@dataclass(frozen=True)
class ChainTip:
    length: int
    last_hash: bytes


def _payload(tips: dict[str, ChainTip], written_at: str) -> bytes:
    body = {
        "written_at": written_at,
        "chains": {name: [tip.length, tip.last_hash.hex()] for name, tip in sorted(tips.items())},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def write_checkpoint(directory: Path, mac_key: bytes, tips: dict[str, ChainTip]) -> Path:
    """Atomically replace the checkpoint file."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    written_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    payload = _payload(tips, written_at)
    document = {
        "written_at": written_at,
        "chains": {name: {"length": t.length, "last_hash": t.last_hash.hex()} for name, t in tips.items()},
        "mac": hmac_sha256(mac_key, payload).hex(),
    }
    path = directory / CHECKPOINT_FILE
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    return path


def read_checkpoint(directory: Path, mac_key: bytes) -> dict[str, ChainTip] | None:
    """The verified tips, or None if no checkpoint was ever written."""
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text())
        tips = {
            name: ChainTip(int(value["length"]), bytes.fromhex(value["last_hash"]))
            for name, value in document["chains"].items()
        }
        expected = hmac_sha256(mac_key, _payload(tips, document["written_at"]))
        valid = hmac.compare_digest(expected.hex(), document["mac"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable: {exc.__class__.__name__}") from None
    if not valid:
        raise CheckpointError(f"checkpoint {path} has an invalid MAC (forged or corrupted)")
    return tips
