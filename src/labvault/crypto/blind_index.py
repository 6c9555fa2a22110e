"""Blind indexes: keyed, truncated HMACs that allow equality search without decrypting.

Each index (e.g. ``patient.nir``) gets its own sub-key derived from the lab's index key with HKDF,
so equal values in two labs, or in two different indexes, give unrelated index values. Values are
truncated (CipherSweet's approach): lookups return candidates that are confirmed after decryption.
"""

from __future__ import annotations

from labvault.crypto.kdf import hkdf_sha256, hmac_sha256

DEFAULT_BITS = 64


class BlindIndexer:
    """Computes the blind indexes of one laboratory."""

    def __init__(self, index_key: bytes) -> None:
        self._root = index_key
        self._subkeys: dict[str, bytes] = {}

    def _subkey(self, name: str) -> bytes:
        key = self._subkeys.get(name)
        if key is None:
            key = hkdf_sha256(self._root, b"labvault.blind-index.v1:" + name.encode())
            self._subkeys[name] = key
        return key

    def index(self, name: str, normalized_value: str, bits: int = DEFAULT_BITS) -> bytes:
        """Index value of an already normalised plaintext (callers normalise: NIR compact, names...)."""
        if bits % 8 or not 16 <= bits <= 256:
            raise ValueError("blind index size must be a whole number of bytes between 16 and 256 bits")
        return hmac_sha256(self._subkey(name), normalized_value.encode("utf-8"))[: bits // 8]
