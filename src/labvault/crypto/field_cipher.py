"""Field-level encryption bound to its place: lab, table, column, row id and key version.

Format of a stored value: ``0x01 | key version (u32 BE) | nonce (12) | ciphertext | tag (16)``.
The associated data repeats the header and names the lab, table, column and row, so a
ciphertext copied to another row, column or laboratory fails authentication.

Absence is encrypted too: the sealed plaintext is ``0x00`` for "no value" and ``0x01 || UTF-8``
otherwise, so every encrypted column of a row always holds a ciphertext. Setting one to NULL in
the database (silently erasing a NIR or a note) is an integrity error, not a missing value.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping

from labvault.crypto.aead import Aead
from labvault.crypto.errors import IntegrityError, KeyUnavailable

FORMAT_V1 = 1
_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size
_ABSENT = b"\x00"
_PRESENT = b"\x01"


def header_of(blob: bytes) -> tuple[int, int]:
    """Return (format, key version) of a stored field value."""
    if len(blob) < HEADER_BYTES:
        raise IntegrityError("ciphertext too short for its header")
    fmt, version = _HEADER.unpack_from(blob)
    return fmt, version


def associated_data(lab_id: uuid.UUID, table: str, column: str, row_id: uuid.UUID, header: bytes) -> bytes:
    """The context a ciphertext is bound to (no personal data: only ids and names)."""
    return b"\x00".join(
        (b"labvault.field.v1", lab_id.bytes, table.encode(), column.encode(), row_id.bytes, header)
    )


class FieldCipher:
    """Encrypts and decrypts the fields of one laboratory with its versioned data keys."""

    def __init__(self, lab_id: uuid.UUID, data_keys: Mapping[int, bytes], active_version: int) -> None:
        if active_version not in data_keys:
            raise KeyUnavailable("active data key version missing from key set")
        self.lab_id = lab_id
        self.active_version = active_version
        self._aeads = {version: Aead(key) for version, key in data_keys.items()}

    @property
    def versions(self) -> frozenset[int]:
        return frozenset(self._aeads)

    def encrypt(self, table: str, column: str, row_id: uuid.UUID, plaintext: str | None) -> bytes:
        """Seal one value (or its absence) under the active key version."""
        return self._seal(table, column, row_id, None if plaintext is None else plaintext.encode("utf-8"))

    def encrypt_bytes(self, table: str, column: str, row_id: uuid.UUID, data: bytes | None) -> bytes:
        """Seal binary content (a PDF report) exactly like a text value."""
        return self._seal(table, column, row_id, data)

    def decrypt(self, table: str, column: str, row_id: uuid.UUID, blob: bytes | None) -> str | None:
        """Open one value; raises IntegrityError naming the place (never the content) on failure."""
        opened = self._open(table, column, row_id, blob)
        return None if opened is None else opened.decode("utf-8")

    def decrypt_bytes(self, table: str, column: str, row_id: uuid.UUID, blob: bytes | None) -> bytes | None:
        return self._open(table, column, row_id, blob)

    def reseal(self, table: str, column: str, row_id: uuid.UUID, blob: bytes | None) -> bytes:
        """Re-encrypt a stored value under the active key, whatever it holds (text or binary)."""
        return self._seal(table, column, row_id, self._open(table, column, row_id, blob))

    def _seal(self, table: str, column: str, row_id: uuid.UUID, content: bytes | None) -> bytes:
        header = _HEADER.pack(FORMAT_V1, self.active_version)
        aad = associated_data(self.lab_id, table, column, row_id, header)
        sealed = _ABSENT if content is None else _PRESENT + content
        return header + self._aeads[self.active_version].encrypt(sealed, aad)

    def _open(self, table: str, column: str, row_id: uuid.UUID, blob: bytes | None) -> bytes | None:
        where = f"{table}.{column} of row {row_id}"
        if blob is None:
            raise IntegrityError(f"ciphertext missing (NULL) in {where}")
        if len(blob) < HEADER_BYTES:
            raise IntegrityError(f"ciphertext too short for its header in {where}")
        fmt, version = header_of(blob)
        if fmt != FORMAT_V1:
            raise IntegrityError(f"unknown ciphertext format {fmt} in {where}")
        aead = self._aeads.get(version)
        if aead is None:
            raise IntegrityError(f"no key version {version} for this laboratory in {where}")
        aad = associated_data(self.lab_id, table, column, row_id, blob[:HEADER_BYTES])
        try:
            sealed = aead.decrypt(blob[HEADER_BYTES:], aad)
        except IntegrityError:
            raise IntegrityError(f"integrity check failed for {where}") from None
        if sealed == _ABSENT:
            return None
        if sealed[:1] != _PRESENT:
            raise IntegrityError(f"malformed sealed value in {where}")
        return sealed[1:]
