"""Root key providers: where the key that unlocks every laboratory's key set lives.

The default keeps a root key file in a key directory that must not be inside the data directory,
so a stolen copy of the data directory (database, WAL, backups) holds only wrapped keys. Each
laboratory also gets its own key-encryption key (KEK) file, wrapped by the root key: deleting that
file crypto-shreds the lab, even in database backups that still hold its wrapped data keys.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Protocol

from labvault.crypto.aead import Aead, random_key
from labvault.crypto.errors import CryptoError, KeyUnavailable
from labvault.crypto.kdf import hkdf_sha256

ROOT_KEY_FILE = "root.key"
LAB_KEK_DIR = "labs"


class KeyProvider(Protocol):
    """What the key store needs from a root of trust."""

    def create_lab_kek(self, lab_id: uuid.UUID) -> None: ...
    def lab_kek(self, lab_id: uuid.UUID) -> bytes: ...
    def destroy_lab_kek(self, lab_id: uuid.UUID) -> None: ...
    def derive(self, purpose: str) -> bytes: ...


def paths_overlap(a: Path, b: Path) -> bool:
    """True when one directory is the other or lies inside it."""
    ra, rb = a.resolve(), b.resolve()
    return ra == rb or ra in rb.parents or rb in ra.parents


class FileKeyProvider:
    """Root key in ``<key_dir>/root.key`` (0600), lab KEKs in ``<key_dir>/labs/<lab id>.kek``."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        path = key_dir / ROOT_KEY_FILE
        if not path.exists():
            raise KeyUnavailable(f"no root key in {key_dir}: run 'labvault init' first")
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
        if len(raw) != 32:
            raise CryptoError(f"root key file {path} is not a 32-byte key")
        self._root = Aead(hkdf_sha256(raw, b"labvault.root.wrap.v1"))
        self._root_ikm = raw

    @staticmethod
    def initialise(key_dir: Path, data_dir: Path) -> bool:
        """Create the key directory and root key once; refuse a key dir inside the data dir."""
        if paths_overlap(key_dir, data_dir):
            raise CryptoError(
                "the key directory must not be the data directory or inside it (nor contain it): "
                "a stolen copy of the data would carry its own key"
            )
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (key_dir / LAB_KEK_DIR).mkdir(exist_ok=True, mode=0o700)
        path = key_dir / ROOT_KEY_FILE
        if path.exists():
            return False
        _write_secret(path, base64.b64encode(random_key()) + b"\n")
        return True

    def _kek_path(self, lab_id: uuid.UUID) -> Path:
        return self.key_dir / LAB_KEK_DIR / f"{lab_id}.kek"

    def create_lab_kek(self, lab_id: uuid.UUID) -> None:
        path = self._kek_path(lab_id)
        if path.exists():
            raise CryptoError(f"laboratory {lab_id} already has a key-encryption key")
        path.parent.mkdir(exist_ok=True, mode=0o700)
        wrapped = self._root.encrypt(random_key(), b"labvault.lab-kek.v1:" + lab_id.bytes)
        _write_secret(path, base64.b64encode(wrapped) + b"\n")

    def lab_kek(self, lab_id: uuid.UUID) -> bytes:
        path = self._kek_path(lab_id)
        try:
            wrapped = base64.b64decode(path.read_bytes().strip(), validate=True)
        except FileNotFoundError:
            raise KeyUnavailable(f"laboratory {lab_id} has no key-encryption key (destroyed?)") from None
        return self._root.decrypt(wrapped, b"labvault.lab-kek.v1:" + lab_id.bytes)

    def destroy_lab_kek(self, lab_id: uuid.UUID) -> None:
        """Overwrite then delete the lab's KEK file: its data becomes unreadable everywhere."""
        path = self._kek_path(lab_id)
        if path.exists():
            size = path.stat().st_size
            with path.open("r+b") as handle:
                handle.write(os.urandom(size))
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()

    def derive(self, purpose: str) -> bytes:
        """A platform key for one named purpose (e.g. audit checkpoint MAC), derived from the root."""
        return hkdf_sha256(self._root_ikm, b"labvault.platform.v1:" + purpose.encode())


def _write_secret(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
