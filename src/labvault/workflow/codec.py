"""Which workflow column holds which clear value, sealed and opened with the lab's keys."""

from __future__ import annotations

import json
import uuid
from typing import Any

from labvault.crypto.keyset import LabKeySet

BARCODE_INDEX = "specimens.barcode"
BARCODE_INDEX_BITS = 128  # unique per lab: collisions must not happen, not merely be rare


def seal(keys: LabKeySet, table: str, column: str, row_id: uuid.UUID, value: str | None) -> bytes:
    return keys.cipher.encrypt(table, column, row_id, value)


def open_text(keys: LabKeySet, table: str, column: str, row_id: uuid.UUID, blob: bytes | None) -> str | None:
    return keys.cipher.decrypt(table, column, row_id, blob)


def seal_json(keys: LabKeySet, table: str, column: str, row_id: uuid.UUID, value: Any) -> bytes:
    text = None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return keys.cipher.encrypt(table, column, row_id, text)


def open_json(keys: LabKeySet, table: str, column: str, row_id: uuid.UUID, blob: bytes | None) -> Any:
    text = keys.cipher.decrypt(table, column, row_id, blob)
    return None if text is None else json.loads(text)


def barcode_index(keys: LabKeySet, barcode: str) -> bytes:
    return keys.indexer.index(BARCODE_INDEX, barcode, bits=BARCODE_INDEX_BITS)
