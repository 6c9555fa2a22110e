"""The stated reason of an exceptional access (break-the-glass, a support grant): long enough to
say something, short enough to store, whitespace folded. It is stored encrypted by the caller."""

from __future__ import annotations

from labvault.errors import InvalidInput

MIN_REASON = 15
MAX_REASON = 500


def clean_reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not MIN_REASON <= len(cleaned) <= MAX_REASON:
        raise InvalidInput("reason", f"must be {MIN_REASON} to {MAX_REASON} characters: say why")
    return cleaned
