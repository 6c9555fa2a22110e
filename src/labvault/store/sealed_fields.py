"""Encrypted columns named ``<field>_enc``: seal a record's fields into them, open them back.

Each table's codec module (identity/user_codec.py, workflow/order_codec.py...) holds one
:class:`SealedColumns` and exposes named functions (``open_full_name(keys, user)``); services use
those, and never type a table or column name: the associated data that binds each ciphertext to
its place (lab, table, column, row) comes from the model, so it cannot be misspelt.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table

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


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


class SealedColumns:
    """The sealed fields of one model: the table name is the model's, and each field is checked,
    when the codec module is imported, to have an ``<field>_enc`` column tagged ``encrypted`` (the
    columns re-encryption rewrites). A field the codec was not built with is refused."""

    def __init__(self, model: type[Any], *fields: str) -> None:
        table: Table = model.__table__
        for field in fields:
            column = table.columns.get(column_of(field))
            if column is None or not column.info.get("encrypted"):
                raise LookupError(f"{table.name} has no encrypted column {column_of(field)}")
        self.table = table.name
        self.fields = fields

    def _column(self, field: str) -> str:
        if field not in self.fields:
            raise LookupError(f"{field} is not a sealed field of {self.table}")
        return column_of(field)

    # --- one field --------------------------------------------------------------------------------

    def seal(self, cipher: FieldCipher, field: str, row_id: uuid.UUID, value: str | None) -> bytes:
        return cipher.encrypt(self.table, self._column(field), row_id, value)

    def open_blob(self, cipher: FieldCipher, field: str, row_id: uuid.UUID, blob: bytes | None) -> str | None:
        """A value read apart from its row (a column query): its row id and ciphertext."""
        return cipher.decrypt(self.table, self._column(field), row_id, blob)

    def open(self, cipher: FieldCipher, row: Any, field: str) -> str | None:
        """The clear value of ``field`` in ``row`` (any mapped row with an ``id``)."""
        return self.open_blob(cipher, field, row.id, getattr(row, self._column(field)))

    def seal_json(self, cipher: FieldCipher, field: str, row_id: uuid.UUID, value: Any) -> bytes:
        """A JSON value (keys sorted, compact), or None, sealed as text."""
        return self.seal(cipher, field, row_id, _json_text(value))

    def open_json(self, cipher: FieldCipher, row: Any, field: str) -> Any:
        text = self.open(cipher, row, field)
        return None if text is None else json.loads(text)

    def seal_bytes(self, cipher: FieldCipher, field: str, row_id: uuid.UUID, data: bytes | None) -> bytes:
        return cipher.encrypt_bytes(self.table, self._column(field), row_id, data)

    def open_bytes(self, cipher: FieldCipher, row: Any, field: str) -> bytes | None:
        return cipher.decrypt_bytes(
            self.table, self._column(field), row.id, getattr(row, self._column(field))
        )

    # --- a whole record -----------------------------------------------------------------------------

    def seal_all(
        self,
        cipher: FieldCipher,
        row_id: uuid.UUID,
        values: Mapping[str, str | None],
        json_values: Mapping[str, Any] | None = None,
    ) -> dict[str, bytes]:
        """Column values (``<field>_enc``) for these fields' clear values; ``json_values``: fields
        holding a JSON value (sealed as :meth:`seal_json` does)."""
        texts = {**values, **{field: _json_text(value) for field, value in (json_values or {}).items()}}
        for field in texts:
            self._column(field)
        return seal_fields(cipher, self.table, row_id, texts)

    def open_all(
        self, cipher: FieldCipher, row: Any, fields: Iterable[str] | None = None
    ) -> dict[str, str | None]:
        """Clear values of ``fields`` (default: every sealed field) of ``row``."""
        wanted = tuple(self.fields if fields is None else fields)
        for field in wanted:
            self._column(field)
        return open_fields(cipher, self.table, row, wanted)
