"""The sealed fields of ``physicians`` and the blind index that finds one by RPPS."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from labvault.crypto.keyset import LabKeySet
from labvault.identity.models import Physician
from labvault.store.sealed_fields import SealedColumns

PHYSICIANS = SealedColumns(Physician, "rpps", "family_name", "given_names", "phone", "email")
RPPS_INDEX = "physicians.rpps"


def rpps_index(keys: LabKeySet, rpps: str) -> bytes:
    return keys.indexer.index(RPPS_INDEX, rpps)


def seal_physician(keys: LabKeySet, row_id: uuid.UUID, clear: Mapping[str, str | None]) -> dict[str, bytes]:
    """Column values for a physician's clear fields (every one of :data:`PHYSICIANS`)."""
    return PHYSICIANS.seal_all(keys.cipher, row_id, clear)


def open_physician(
    keys: LabKeySet, row: Physician, fields: Iterable[str] | None = None
) -> dict[str, str | None]:
    """The clear ``fields`` of ``row`` (default: all of them)."""
    return PHYSICIANS.open_all(keys.cipher, row, fields)


def open_rpps(keys: LabKeySet, row: Physician) -> str | None:
    return PHYSICIANS.open(keys.cipher, row, "rpps")
