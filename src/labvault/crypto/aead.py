"""The one AES-256-GCM wrapper every ciphertext in labvault goes through.

Kept tiny so the Wycheproof vectors exercise exactly the code that protects patient data.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from labvault.crypto.errors import IntegrityError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class Aead:
    """AES-256-GCM with 96-bit nonces and 128-bit tags; the nonce is prepended to the output."""

    __slots__ = ("_aesgcm",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aesgcm = AESGCM(key)

    def encrypt(self, plaintext: bytes, aad: bytes, nonce: bytes | None = None) -> bytes:
        """Return nonce || ciphertext || tag. A fresh random nonce unless one is given (tests only)."""
        if nonce is None:
            nonce = os.urandom(NONCE_BYTES)
        elif len(nonce) != NONCE_BYTES:
            raise ValueError("nonce must be 96 bits")
        return nonce + self._aesgcm.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Inverse of :meth:`encrypt`; any tampering raises :class:`IntegrityError`."""
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise IntegrityError("ciphertext too short")
        try:
            return self._aesgcm.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise IntegrityError("authentication tag mismatch") from None


def random_key() -> bytes:
    """A fresh 256-bit key from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)
