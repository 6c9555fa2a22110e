"""The sealed fields of ``specimens`` (the tube's barcode, a rejection's comment) and the blind
index that finds a tube by its barcode."""

from __future__ import annotations

import uuid

from labvault.crypto.keyset import LabKeySet
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.models import Specimen

SPECIMENS = SealedColumns(Specimen, "barcode", "rejection_comment")
BARCODE_INDEX = "specimens.barcode"
BARCODE_INDEX_BITS = 128  # unique per lab: collisions must not happen, not merely be rare


def barcode_index(keys: LabKeySet, barcode: str) -> bytes:
    return keys.indexer.index(BARCODE_INDEX, barcode, bits=BARCODE_INDEX_BITS)


def seal_barcode(keys: LabKeySet, specimen_id: uuid.UUID, barcode: str) -> bytes:
    return SPECIMENS.seal(keys.cipher, "barcode", specimen_id, barcode)


def seal_rejection_comment(keys: LabKeySet, specimen_id: uuid.UUID, comment: str | None) -> bytes:
    return SPECIMENS.seal(keys.cipher, "rejection_comment", specimen_id, comment)


def open_barcode(keys: LabKeySet, row: Specimen) -> str | None:
    return SPECIMENS.open(keys.cipher, row, "barcode")


def open_rejection_comment(keys: LabKeySet, row: Specimen) -> str | None:
    return SPECIMENS.open(keys.cipher, row, "rejection_comment")
