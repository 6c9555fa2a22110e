"""Encrypted columns named ``<field>_enc``: seal a record's fields into them, open them back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from labvault.crypto.field_cipher import FieldCipher


def column_of(field: str) -> str:
    return f"{field}_enc"


def seal_fields(
    cipher: FieldCipher, table: str, row_id: uuid.UUID, values: Mapping[str, str | None]
) -> dict[str, bytes]:
    """Column values for clear field values, each bound to its table, column and row."""
    return {
        column_of(field): cipher.encrypt(table, column_of(field), row_id, value)
        for field, value in values.items()
    }


def open_fields(cipher: FieldCipher, table: str, row: object, fields: Iterable[str]) -> dict[str, str | None]:
    """Clear values of ``fields`` read from a row with an ``id`` and ``<field>_enc`` attributes."""
    row_id: uuid.UUID = getattr(row, "id")  # noqa: B009 - any mapped row type
    return {
        field: cipher.decrypt(table, column_of(field), row_id, getattr(row, column_of(field)))
        for field in fields
    }
