"""Argon2id password hashing (RFC 9106 / OWASP: m=46 MiB, t=1, p=1 at least)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from labvault.errors import InvalidInput

MEMORY_KIB = 47_104  # 46 MiB
TIME_COST = 1
PARALLELISM = 1
MIN_LENGTH = 12

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
_DUMMY_HASH = _hasher.hash("labvault-dummy-password-for-timing")


def check_password_policy(password: str) -> None:
    """Refuse short passwords; length beats composition rules (NIST SP 800-63B)."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_LENGTH} characters")
    if len(password) > 256:
        raise InvalidInput("password", "must be at most 256 characters")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if it matches. With no stored hash, still spends the same work (no user enumeration)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
