"""One way to seal a field (store/sealed_fields.py ``SealedColumns``, under each table's codec): the
ciphertexts are the ones the raw cipher makes for the same table, column and row, so databases
written before the codecs still open; a field the table does not seal is refused (no database)."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest

from labvault.crypto.aead import random_key
from labvault.crypto.errors import IntegrityError
from labvault.crypto.field_cipher import FieldCipher
from labvault.identity.models import Physician, User
from labvault.security.grant_models import AccessOverride
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.models import Order, Report


def _cipher() -> FieldCipher:
    return FieldCipher(uuid.uuid4(), {1: random_key()}, 1)


def test_a_codec_names_only_encrypted_columns_of_its_model() -> None:
    with pytest.raises(LookupError, match="users has no encrypted column username_enc"):
        SealedColumns(User, "username")
    with pytest.raises(LookupError, match="no encrypted column nickname_enc"):
        SealedColumns(User, "nickname")
    users = SealedColumns(User, "full_name")
    with pytest.raises(LookupError, match="not a sealed field of users"):
        users.seal(_cipher(), "totp_secret", uuid.uuid4(), "x")


def test_sealed_values_open_with_the_raw_cipher_and_back() -> None:
    cipher, row_id = _cipher(), uuid.uuid4()
    users = SealedColumns(User, "full_name")
    blob = users.seal(cipher, "full_name", row_id, "Marie Curie")
    assert cipher.decrypt("users", "full_name_enc", row_id, blob) == "Marie Curie"
    legacy = cipher.encrypt("users", "full_name_enc", row_id, "Marie Curie")
    assert users.open(cipher, SimpleNamespace(id=row_id, full_name_enc=legacy), "full_name") == "Marie Curie"
    overrides = SealedColumns(AccessOverride, "reason")
    reason = overrides.seal(cipher, "reason", row_id, "urgences")
    assert cipher.decrypt("access_overrides", "reason_enc", row_id, reason) == "urgences"


def test_a_value_opens_only_in_its_own_table_column_and_row() -> None:
    cipher, row_id = _cipher(), uuid.uuid4()
    physicians = SealedColumns(Physician, "rpps", "family_name")
    sealed = physicians.seal_all(cipher, row_id, {"rpps": "10003456789", "family_name": "Martin"})
    assert set(sealed) == {"rpps_enc", "family_name_enc"}
    moved = SimpleNamespace(id=row_id, rpps_enc=sealed["family_name_enc"], family_name_enc=sealed["rpps_enc"])
    with pytest.raises(IntegrityError):
        physicians.open_all(cipher, moved)
    other_row = SimpleNamespace(id=uuid.uuid4(), **sealed)
    with pytest.raises(IntegrityError):
        physicians.open(cipher, other_row, "rpps")
    assert physicians.open_all(cipher, SimpleNamespace(id=row_id, **sealed)) == {
        "rpps": "10003456789",
        "family_name": "Martin",
    }


def test_json_and_binary_fields_keep_their_stored_form() -> None:
    cipher, row_id = _cipher(), uuid.uuid4()
    orders = SealedColumns(Order, "fasting", "drugs")
    sealed = orders.seal_all(cipher, row_id, {}, {"fasting": {"hours": 12, "a": True}, "drugs": ["x"]})
    text = cipher.decrypt("orders", "fasting_enc", row_id, sealed["fasting_enc"])
    assert text == json.dumps({"hours": 12, "a": True}, sort_keys=True, separators=(",", ":"))
    row = SimpleNamespace(id=row_id, **sealed)
    assert orders.open_json(cipher, row, "drugs") == ["x"]
    reports = SealedColumns(Report, "pdf")
    pdf = reports.seal_bytes(cipher, "pdf", row_id, b"%PDF-1.7")
    assert cipher.decrypt_bytes("reports", "pdf_enc", row_id, pdf) == b"%PDF-1.7"
    assert reports.open_bytes(cipher, SimpleNamespace(id=row_id, pdf_enc=pdf), "pdf") == b"%PDF-1.7"
