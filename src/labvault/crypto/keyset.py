"""One laboratory's unwrapped keys: versioned data keys and a separate blind-index key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from labvault.crypto.aead import Aead
from labvault.crypto.blind_index import BlindIndexer
from labvault.crypto.field_cipher import FieldCipher

PURPOSE_DATA = "data"
PURPOSE_INDEX = "index"


def wrap_aad(lab_id: uuid.UUID, purpose: str, version: int) -> bytes:
    """Binds a wrapped key to its lab, purpose and version: no swapping keys between slots."""
    return b"labvault.lab-key.v1:" + lab_id.bytes + purpose.encode() + version.to_bytes(4, "big")


def wrap_key(kek: bytes, lab_id: uuid.UUID, purpose: str, version: int, key: bytes) -> bytes:
    return Aead(kek).encrypt(key, wrap_aad(lab_id, purpose, version))


def unwrap_key(kek: bytes, lab_id: uuid.UUID, purpose: str, version: int, wrapped: bytes) -> bytes:
    return Aead(kek).decrypt(wrapped, wrap_aad(lab_id, purpose, version))


@dataclass
class LabKeySet:
    """Ready-to-use cipher and indexer for one lab, built by the key store."""

    lab_id: uuid.UUID
    cipher: FieldCipher
    indexer: BlindIndexer = field(repr=False)
