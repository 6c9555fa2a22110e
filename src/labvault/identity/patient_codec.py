"""Maps clear patient data to encrypted columns and blind indexes, and back.

Only this module knows which column holds which field; services hand it a lab's key set.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from labvault.crypto.keyset import LabKeySet
from labvault.identity.models import Patient
from labvault.identity.patient_data import ENCRYPTED_FIELDS, PatientData, PatientRecord, name_birth_key
from labvault.store.sealed_fields import SealedColumns

__all__ = [
    "decode",
    "encrypted_columns",
    "ins_index",
    "name_birth_index",
    "name_birth_key",
    "nir_index",
]

PATIENTS = SealedColumns(Patient, *ENCRYPTED_FIELDS)
NIR_INDEX = "patients.nir"
INS_INDEX = "patients.ins"
NAME_BIRTH_INDEX = "patients.name_birth"
NAME_BIRTH_BITS = 32  # deliberately collision-prone: a name + birth date is low-entropy


def _to_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name == "birth_date":
        return str(value.isoformat())
    return str(value)


def nir_index(keys: LabKeySet, nir: str) -> bytes:
    return keys.indexer.index(NIR_INDEX, nir)


def ins_index(keys: LabKeySet, ins: str) -> bytes:
    return keys.indexer.index(INS_INDEX, ins)


def name_birth_index(keys: LabKeySet, name: str, birth_date: dt.date) -> bytes:
    return keys.indexer.index(NAME_BIRTH_INDEX, name_birth_key(name, birth_date), bits=NAME_BIRTH_BITS)


def encrypted_columns(keys: LabKeySet, row_id: uuid.UUID, data: PatientData) -> dict[str, Any]:
    """Column values (ciphertexts + blind indexes) for a validated patient."""
    clear = {name: _to_text(name, getattr(data, name)) for name in ENCRYPTED_FIELDS}
    values: dict[str, Any] = PATIENTS.seal_all(keys.cipher, row_id, clear)
    values["ins_oid"] = data.ins_oid
    values["ins_status"] = data.ins_status
    values["nir_bidx"] = nir_index(keys, data.nir) if data.nir else None
    values["ins_bidx"] = ins_index(keys, data.ins) if data.ins else None
    values["name_birth_bidx"] = name_birth_index(keys, data.birth_name, data.birth_date)
    values["used_name_birth_bidx"] = (
        name_birth_index(keys, data.used_name, data.birth_date) if data.used_name else None
    )
    return values


def decode(keys: LabKeySet, row: Patient) -> PatientRecord:
    """Decrypt a row; any tampered or misplaced ciphertext raises IntegrityError."""
    clear: dict[str, Any] = PATIENTS.open_all(keys.cipher, row)
    clear["birth_date"] = dt.date.fromisoformat(clear["birth_date"])
    data = PatientData(**clear, ins_oid=row.ins_oid, ins_status=row.ins_status)
    return PatientRecord(row.id, row.lab_id, row.revision, data, row.created_at, row.updated_at)
