"""The sealed field of ``users``: a lab account's full name, under its lab's keys."""

from __future__ import annotations

import uuid

from labvault.crypto.keyset import LabKeySet
from labvault.identity.models import User
from labvault.store.sealed_fields import SealedColumns

USERS = SealedColumns(User, "full_name")


def seal_full_name(keys: LabKeySet, user_id: uuid.UUID, full_name: str | None) -> bytes:
    return USERS.seal(keys.cipher, "full_name", user_id, full_name)


def open_full_name(keys: LabKeySet, user: User) -> str | None:
    """The account's full name; None when none was sealed (an operator's account has no lab keys)."""
    return USERS.open(keys.cipher, user, "full_name") if user.full_name_enc else None
