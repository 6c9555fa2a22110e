"""TOTP secrets at rest: AES-256-GCM under a platform key derived from the root key, each
ciphertext bound to its table, column and user id.

A platform key rather than a lab's data key: platform operators have no lab and need MFA too, and
a lab's key rotation or shredding must not lock its users out of anything but their lab's data
(a shredded lab's users cannot sign in anyway). A secret copied to another user's row fails.

Stored format: ``0x01 | nonce (12) | ciphertext | tag (16)``.
"""

from __future__ import annotations

import uuid

from labvault.crypto.aead import Aead
from labvault.crypto.errors import IntegrityError

KEY_PURPOSE = "mfa-totp-secret-v1"  # passed to the key provider's derive()
TABLE = "users"
COLUMN = "totp_secret_sealed"
FORMAT_V1 = b"\x01"


def _aad(user_id: uuid.UUID) -> bytes:
    return b"\x00".join((b"labvault.totp-secret.v1", TABLE.encode(), COLUMN.encode(), user_id.bytes))


class TotpSecretBox:
    """Seals and opens the TOTP secrets of every account."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = Aead(key)

    def seal(self, user_id: uuid.UUID, secret: str) -> bytes:
        return FORMAT_V1 + self._aead.encrypt(secret.encode("ascii"), _aad(user_id))

    def open(self, user_id: uuid.UUID, blob: bytes) -> str:
        where = f"{TABLE}.{COLUMN} of row {user_id}"
        if blob[:1] != FORMAT_V1:
            raise IntegrityError(f"unknown ciphertext format in {where}")
        try:
            return self._aead.decrypt(blob[1:], _aad(user_id)).decode("ascii")
        except IntegrityError:
            raise IntegrityError(f"integrity check failed for {where}") from None
