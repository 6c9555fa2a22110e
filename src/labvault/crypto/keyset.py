"""One laboratory's unwrapped keys: versioned data keys, a separate blind-index key, and the row-link
key derived from it (crypto/row_links.py).

A data key wrapped with ``bound=True`` also attests that every row of its lab carries a link seal:
from then on a missing seal is an integrity error, not a row from before links were bound. The
attestation is in the wrapping's associated data, so it cannot be removed without the key-encryption
key (and deleting the key slot loses the data it encrypted).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from labvault.crypto.aead import Aead
from labvault.crypto.blind_index import BlindIndexer
from labvault.crypto.errors import IntegrityError
from labvault.crypto.field_cipher import FieldCipher
from labvault.crypto.row_links import LinkSealer

PURPOSE_DATA = "data"
PURPOSE_INDEX = "index"


_LINKS_BOUND = b":links-bound"


def wrap_aad(lab_id: uuid.UUID, purpose: str, version: int, *, bound: bool = False) -> bytes:
    """Binds a wrapped key to its lab, purpose and version: no swapping keys between slots.
    ``bound``: the lab's rows all carry link seals (only data keys say so)."""
    aad = b"labvault.lab-key.v1:" + lab_id.bytes + purpose.encode() + version.to_bytes(4, "big")
    return aad + _LINKS_BOUND if bound else aad


def wrap_key(
    kek: bytes, lab_id: uuid.UUID, purpose: str, version: int, key: bytes, *, bound: bool = False
) -> bytes:
    return Aead(kek).encrypt(key, wrap_aad(lab_id, purpose, version, bound=bound))


def unwrap_key(kek: bytes, lab_id: uuid.UUID, purpose: str, version: int, wrapped: bytes) -> bytes:
    return unwrap_key_bound(kek, lab_id, purpose, version, wrapped)[0]


def unwrap_key_bound(
    kek: bytes, lab_id: uuid.UUID, purpose: str, version: int, wrapped: bytes
) -> tuple[bytes, bool]:
    """The key, and whether it was wrapped as attesting bound links (tried first)."""
    aead = Aead(kek)
    if purpose == PURPOSE_DATA:
        try:
            return aead.decrypt(wrapped, wrap_aad(lab_id, purpose, version, bound=True)), True
        except IntegrityError:
            pass
    return aead.decrypt(wrapped, wrap_aad(lab_id, purpose, version)), False


@dataclass
class LabKeySet:
    """Ready-to-use cipher and indexer for one lab, built by the key store."""

    lab_id: uuid.UUID
    cipher: FieldCipher
    indexer: BlindIndexer = field(repr=False)
    links: LinkSealer = field(repr=False)
    links_bound: bool = False  # a data key attests it: a row without a link seal is then tampered
