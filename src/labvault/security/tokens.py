"""API bearer tokens: 256 random bits shown once, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "lvt_"  # noqa: S105 - a public prefix, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """A fast hash is right here: the token is random and long, not a guessable password."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def display_prefix(token: str) -> str:
    return token[: len(TOKEN_PREFIX) + 6]
