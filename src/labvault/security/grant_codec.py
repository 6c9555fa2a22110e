"""The sealed reasons of access granted beyond the role: a support grant's, a break-the-glass
override's (each may describe a patient's problem: the lab's keys seal it)."""

from __future__ import annotations

import uuid

from labvault.crypto.keyset import LabKeySet
from labvault.security.grant_models import AccessOverride, SupportGrant
from labvault.store.sealed_fields import SealedColumns

SUPPORT_GRANTS = SealedColumns(SupportGrant, "reason")
OVERRIDES = SealedColumns(AccessOverride, "reason")


def seal_grant_reason(keys: LabKeySet, grant_id: uuid.UUID, reason: str) -> bytes:
    return SUPPORT_GRANTS.seal(keys.cipher, "reason", grant_id, reason)


def seal_override_reason(keys: LabKeySet, override_id: uuid.UUID, reason: str) -> bytes:
    return OVERRIDES.seal(keys.cipher, "reason", override_id, reason)
