"""Checks of form fields the JSON schemas would have made (web/schemas.py ``Strict``)."""

from __future__ import annotations

import json
from typing import Any

from labvault.errors import InvalidInput


def no_nul(**fields: str | None) -> None:
    """A NUL character is refused with the field's name, as in the JSON API (PostgreSQL cannot
    store it, and no person types it)."""
    for name, value in fields.items():
        if value is not None and "\x00" in value:
            raise InvalidInput(name, "must not contain a NUL character")


def optional(value: str | None) -> str | None:
    """An empty form field is an absent one."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def parse_credential(text: str) -> dict[str, Any]:
    """The browser's WebAuthn answer, posted as JSON text by the page's script."""
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidInput("credential", "is not the JSON of a WebAuthn credential") from None
    if not isinstance(value, dict):
        raise InvalidInput("credential", "is not the JSON of a WebAuthn credential")
    return value
