"""Row links sealed to their row: a keyed MAC over a row's id and the columns that decide whose
data it leads to (its patient, order, item, result, specimen, report links, and its restricted flag).

Encryption binds each ciphertext to its lab, table, column and row, but the clear ids that link
rows together are not ciphertexts: ``UPDATE orders SET patient_id = ...`` moved a whole order, its
drugs and its HIV result to another patient. Each bound row therefore stores
``HMAC-SHA256(link key, lab | table | row id | each bound column by name)``; a moved, copied or
nulled link no longer matches and the read fails with :class:`IntegrityError`, like a moved
ciphertext. The link key is derived with HKDF from the lab's index key, which never rotates, so a
data-key rotation leaves every seal valid.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import uuid
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from labvault.crypto.errors import IntegrityError
from labvault.crypto.kdf import hkdf_sha256

DOMAIN = b"labvault.row-links.v1"
MAC_BYTES = 32
_LEN = struct.Struct(">I")


def _encode(value: Any) -> bytes:
    """One column value, typed and length-prefixed: no two values share an encoding (NULL included)."""
    if value is None:
        return b"N"
    if isinstance(value, uuid.UUID):
        return b"U" + value.bytes
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"S" + _LEN.pack(len(data)) + data
    if isinstance(value, (list, tuple)):
        data = json.dumps(list(value), separators=(",", ":"), ensure_ascii=True).encode()
        return b"L" + _LEN.pack(len(data)) + data
    raise TypeError(f"cannot bind a {type(value).__name__} link value")


@lru_cache(maxsize=256)
def _names(table: str, columns: tuple[str, ...]) -> tuple[bytes, tuple[bytes, ...]]:
    """The fixed parts of a table's messages, built once: its name and each column's label."""
    table_part = _LEN.pack(len(table)) + table.encode()
    return table_part, tuple(_LEN.pack(len(name)) + name.encode() for name in columns)


def link_message(
    lab_id: uuid.UUID, table: str, row_id: uuid.UUID, columns: Sequence[str], values: Mapping[str, Any]
) -> bytes:
    """The bytes a row's seal covers: ids and column names only, no personal data. Every part is
    of fixed length or length-prefixed, so no two rows' contents give the same bytes."""
    table_part, labels = _names(table, tuple(columns))
    parts = [DOMAIN, lab_id.bytes, table_part, row_id.bytes]
    for name, label in zip(columns, labels, strict=True):
        parts.append(label)
        parts.append(_encode(values[name]))
    return b"".join(parts)


class LinkSealer:
    """Seals and checks the bound columns of one laboratory's rows."""

    __slots__ = ("_key", "lab_id")

    def __init__(self, lab_id: uuid.UUID, index_key: bytes) -> None:
        self.lab_id = lab_id
        self._key = hkdf_sha256(index_key, DOMAIN + b":" + lab_id.bytes)

    def seal(self, table: str, row_id: uuid.UUID, columns: Sequence[str], values: Mapping[str, Any]) -> bytes:
        return hmac.digest(
            self._key, link_message(self.lab_id, table, row_id, columns, values), hashlib.sha256
        )

    def check(
        self,
        table: str,
        row_id: uuid.UUID,
        columns: Sequence[str],
        values: Mapping[str, Any],
        mac: bytes | None,
        *,
        legacy_allowed: bool,
    ) -> None:
        """Raise IntegrityError naming the table and row (never a value) unless ``mac`` seals these
        values. A missing seal passes only for a lab not yet bound (``legacy_allowed``)."""
        where = f"{table}.links of row {row_id}"
        if mac is None:
            if legacy_allowed:
                return
            raise IntegrityError(f"link seal missing (NULL) in {where}")
        expected = self.seal(table, row_id, columns, values)
        if not hmac.compare_digest(expected, bytes(mac)):
            raise IntegrityError(f"integrity check failed for {where}: a link was moved")
