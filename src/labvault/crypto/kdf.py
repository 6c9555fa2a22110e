"""HMAC-SHA256 and HKDF-SHA256, the two primitives used for derivation and blind indexes."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """Full 32-byte HMAC-SHA256 tag."""
    return hmac.new(key, message, hashlib.sha256).digest()


def hmac_sha256_verify(key: bytes, message: bytes, tag: bytes) -> bool:
    """Constant-time check of a (possibly truncated, at least 10 bytes) tag."""
    if len(tag) < 10:
        return False
    return hmac.compare_digest(hmac_sha256(key, message)[: len(tag)], tag)


def hkdf_sha256(ikm: bytes, info: bytes, length: int = 32, salt: bytes | None = None) -> bytes:
    """RFC 5869 HKDF with SHA-256; ``info`` separates purposes so no key is reused across them."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)
