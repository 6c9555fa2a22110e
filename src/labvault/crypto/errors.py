"""Crypto errors: an integrity failure names where, never what."""

from __future__ import annotations

from labvault.errors import LabvaultError


class CryptoError(LabvaultError):
    """Base class for key and ciphertext problems."""


class IntegrityError(CryptoError):
    """A ciphertext failed authentication: tampered, moved to another row/column/lab, or wrong key."""


class KeyUnavailable(CryptoError):
    """The key needed is missing: never created, or destroyed (crypto-shredded)."""
