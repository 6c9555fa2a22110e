"""Field encryption bound to its place, blind indexes, and the file key provider (no database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import random
import stat
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from labvault.crypto.aead import random_key
from labvault.crypto.blind_index import DEFAULT_BITS, BlindIndexer
from labvault.crypto.errors import CryptoError, IntegrityError, KeyUnavailable
from labvault.crypto.field_cipher import FORMAT_V1, HEADER_BYTES, FieldCipher, header_of
from labvault.crypto.key_provider import LAB_KEK_DIR, ROOT_KEY_FILE, FileKeyProvider, paths_overlap
from labvault.crypto.keyset import PURPOSE_DATA, PURPOSE_INDEX, unwrap_key, wrap_key

TABLE = "patients"
COLUMNS = ("birth_name_enc", "first_names_enc", "nir_enc", "address_enc", "note_enc")
SWAPS = 3_000
SEED = 20_240_611  # fixed: a failing swap is reproducible from the assertion message


def _where(column: str, row_id: uuid.UUID, table: str = TABLE) -> str:
    return f"{table}.{column} of row {row_id}"


def _cipher(lab_id: uuid.UUID | None = None, key: bytes | None = None, version: int = 1) -> FieldCipher:
    return FieldCipher(lab_id or uuid.uuid4(), {version: key or random_key()}, version)


# --- round trip and format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    ["Dupont", "", "Hélène-Marie d'Œuf", "1 85 05 78 006 084 36", "🧪 ß ĳ \u200b", "x" * 5000],
    ids=["ascii", "empty", "accents", "digits", "unicode", "long"],
)
def test_round_trip(plaintext: str) -> None:
    cipher = _cipher()
    row = uuid.uuid4()
    blob = cipher.encrypt(TABLE, "note_enc", row, plaintext)
    assert blob is not None
    assert plaintext.encode() not in blob or plaintext == ""
    assert cipher.decrypt(TABLE, "note_enc", row, blob) == plaintext


def test_absence_is_sealed_and_null_is_an_integrity_error() -> None:
    cipher = _cipher()
    row = uuid.uuid4()
    absent = cipher.encrypt(TABLE, "used_name_enc", row, None)
    assert len(absent) == HEADER_BYTES + 12 + 1 + 16
    assert cipher.decrypt(TABLE, "used_name_enc", row, absent) is None
    assert cipher.encrypt(TABLE, "used_name_enc", row, None) != absent  # fresh nonce: absence does not show
    with pytest.raises(IntegrityError, match=r"missing \(NULL\) in patients.used_name_enc"):
        cipher.decrypt(TABLE, "used_name_enc", row, None)


def test_empty_string_is_not_none() -> None:
    cipher = _cipher()
    row = uuid.uuid4()
    blob = cipher.encrypt(TABLE, "note_enc", row, "")
    assert blob is not None and len(blob) == HEADER_BYTES + 12 + 1 + 16
    assert cipher.decrypt(TABLE, "note_enc", row, blob) == ""


def test_fresh_nonce_every_time() -> None:
    cipher = _cipher()
    row = uuid.uuid4()
    blobs = {cipher.encrypt(TABLE, "nir_enc", row, "185057800608436") for _ in range(50)}
    assert len(blobs) == 50


@pytest.mark.parametrize("version", [1, 2, 7, 2**32 - 1])
def test_header_holds_format_and_version(version: int) -> None:
    cipher = _cipher(version=version)
    blob = cipher.encrypt(TABLE, "sex_enc", uuid.uuid4(), "F")
    assert blob is not None
    assert header_of(blob) == (FORMAT_V1, version)
    assert blob[:HEADER_BYTES] == struct.pack(">BI", FORMAT_V1, version)


@pytest.mark.parametrize("fmt", [0, 2, 0x7F, 0xFF])
def test_unknown_format_byte_is_an_integrity_error(fmt: int) -> None:
    cipher = _cipher()
    row = uuid.uuid4()
    blob = cipher.encrypt(TABLE, "phone_enc", row, "0612345678")
    assert blob is not None
    with pytest.raises(IntegrityError) as raised:
        cipher.decrypt(TABLE, "phone_enc", row, bytes([fmt]) + blob[1:])
    assert _where("phone_enc", row) in str(raised.value)
    assert "0612345678" not in str(raised.value)


def test_unknown_key_version_is_an_integrity_error() -> None:
    lab = uuid.uuid4()
    row = uuid.uuid4()
    newer = FieldCipher(lab, {1: random_key(), 2: random_key()}, 2)
    older = FieldCipher(lab, {1: random_key()}, 1)
    blob = newer.encrypt(TABLE, "email_enc", row, "a@example.com")
    with pytest.raises(IntegrityError, match="no key version 2") as raised:
        older.decrypt(TABLE, "email_enc", row, blob)
    assert _where("email_enc", row) in str(raised.value)


def test_active_version_must_be_in_the_key_set() -> None:
    with pytest.raises(KeyUnavailable):
        FieldCipher(uuid.uuid4(), {1: random_key()}, 2)


# --- binding: a ciphertext only opens where it was written ----------------------------------------


@dataclass(frozen=True)
class Place:
    lab: int
    column: str
    row: uuid.UUID


def test_random_swaps_between_rows_columns_and_labs_all_fail() -> None:
    rng = random.Random(SEED)
    labs = [_cipher(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3)]
    rows = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(50)]
    places = [Place(lab, column, row) for lab in range(3) for column in COLUMNS for row in rows]
    plaintexts = {p: f"SECRET-{rng.getrandbits(64):016x}-{p.lab}-{p.column}" for p in places}
    blobs = {p: labs[p.lab].encrypt(TABLE, p.column, p.row, plaintexts[p]) for p in places}
    # Sanity: each ciphertext opens in its own place.
    for p in rng.sample(places, 100):
        assert labs[p.lab].decrypt(TABLE, p.column, p.row, blobs[p]) == plaintexts[p]

    kinds = {"lab": 0, "column": 0, "row": 0}
    for attempt in range(SWAPS):
        source, target = rng.sample(places, 2)  # distinct, so at least one of lab/column/row differs
        kinds["lab"] += source.lab != target.lab
        kinds["column"] += source.column != target.column
        kinds["row"] += source.row != target.row
        with pytest.raises(IntegrityError) as raised:
            labs[target.lab].decrypt(TABLE, target.column, target.row, blobs[source])
        message = str(raised.value)
        assert _where(target.column, target.row) in message, (attempt, source, target, message)
        assert plaintexts[source] not in message and "SECRET" not in message, (attempt, source, target)
    # Every kind of move was exercised many times (3 labs, 5 columns, 50 rows).
    assert min(kinds.values()) > SWAPS // 2, kinds


@pytest.mark.parametrize("moved", ["lab", "table", "column", "row", "version"])
def test_binding_holds_even_under_the_same_key(moved: str) -> None:
    """With one key shared everywhere, only the associated data tells places apart."""
    key = random_key()
    lab, other_lab, row, other_row = (uuid.uuid4() for _ in range(4))
    writer = FieldCipher(lab, {1: key, 2: key}, 2)
    blob = writer.encrypt(TABLE, "nir_enc", row, "185057800608436")
    assert blob is not None
    reader, table, column, read_row = FieldCipher(lab, {1: key, 2: key}, 2), TABLE, "nir_enc", row
    if moved == "lab":
        reader = FieldCipher(other_lab, {1: key, 2: key}, 2)
    elif moved == "table":
        table = "physicians"
    elif moved == "column":
        column = "ins_enc"
    elif moved == "row":
        read_row = other_row
    else:  # claim the ciphertext was written under version 1 (same key): the header is authenticated
        blob = struct.pack(">BI", FORMAT_V1, 1) + blob[HEADER_BYTES:]
    with pytest.raises(IntegrityError) as raised:
        reader.decrypt(table, column, read_row, blob)
    assert _where(column, read_row, table) in str(raised.value)
    assert "185057800608436" not in str(raised.value)


def test_every_single_bit_flip_fails() -> None:
    lab, row = uuid.uuid4(), uuid.uuid4()
    # Several versions present, so a flipped version bit can land on a key that exists.
    keys = {version: random_key() for version in (1, 2, 3, 5, 9)}
    cipher = FieldCipher(lab, keys, 1)
    blob = cipher.encrypt(TABLE, "address_enc", row, "12 rue des Lilas, 75011 Paris")
    assert blob is not None
    for position in range(len(blob)):
        for bit in range(8):
            tampered = bytearray(blob)
            tampered[position] ^= 1 << bit
            with pytest.raises(IntegrityError) as raised:
                cipher.decrypt(TABLE, "address_enc", row, bytes(tampered))
            assert _where("address_enc", row) in str(raised.value), (position, bit)
            assert "Lilas" not in str(raised.value)


def test_truncated_or_extended_ciphertexts_fail() -> None:
    cipher = _cipher()
    row = uuid.uuid4()
    blob = cipher.encrypt(TABLE, "note_enc", row, "résultat confidentiel")
    assert blob is not None
    for length in range(len(blob)):
        with pytest.raises(IntegrityError):
            cipher.decrypt(TABLE, "note_enc", row, blob[:length])
    with pytest.raises(IntegrityError):
        cipher.decrypt(TABLE, "note_enc", row, blob + b"\x00")


def test_rotation_decrypts_old_versions_and_encrypts_with_the_active_one() -> None:
    lab, row = uuid.uuid4(), uuid.uuid4()
    k1, k2 = random_key(), random_key()
    before = FieldCipher(lab, {1: k1}, 1)
    after = FieldCipher(lab, {1: k1, 2: k2}, 2)
    assert after.versions == frozenset({1, 2})
    old = before.encrypt(TABLE, "birth_name_enc", row, "Martin")
    assert old is not None and header_of(old) == (FORMAT_V1, 1)
    assert after.decrypt(TABLE, "birth_name_enc", row, old) == "Martin"
    new = after.encrypt(TABLE, "birth_name_enc", row, "Martin")
    assert new is not None and header_of(new) == (FORMAT_V1, 2)
    assert after.decrypt(TABLE, "birth_name_enc", row, new) == "Martin"
    with pytest.raises(IntegrityError, match="no key version 2"):
        before.decrypt(TABLE, "birth_name_enc", row, new)
    # Once version 1 is retired (removed), its ciphertexts are gone for good.
    retired = FieldCipher(lab, {2: k2}, 2)
    with pytest.raises(IntegrityError, match="no key version 1"):
        retired.decrypt(TABLE, "birth_name_enc", row, old)


def test_wrapped_lab_keys_are_bound_to_lab_purpose_and_version() -> None:
    kek, key, lab = random_key(), random_key(), uuid.uuid4()
    wrapped = wrap_key(kek, lab, PURPOSE_DATA, 1, key)
    assert unwrap_key(kek, lab, PURPOSE_DATA, 1, wrapped) == key
    for other in (
        (kek, uuid.uuid4(), PURPOSE_DATA, 1),
        (kek, lab, PURPOSE_INDEX, 1),
        (kek, lab, PURPOSE_DATA, 2),
        (random_key(), lab, PURPOSE_DATA, 1),
    ):
        with pytest.raises(IntegrityError):
            unwrap_key(*other, wrapped)


# --- blind indexes --------------------------------------------------------------------------------


def test_blind_index_same_value_same_lab_is_equal() -> None:
    key = random_key()
    first, second = BlindIndexer(key), BlindIndexer(key)
    value = first.index("patients.nir", "185057800608436")
    assert len(value) == DEFAULT_BITS // 8
    assert value == first.index("patients.nir", "185057800608436")
    assert value == second.index("patients.nir", "185057800608436")  # deterministic, not cached state
    assert value != first.index("patients.nir", "185057800608437")


def test_blind_index_differs_between_labs() -> None:
    labs = [BlindIndexer(random_key()) for _ in range(5)]
    values = {lab.index("patients.nir", "185057800608436") for lab in labs}
    assert len(values) == len(labs)


def test_blind_index_differs_between_index_names() -> None:
    indexer = BlindIndexer(random_key())
    names = ("patients.nir", "patients.ins", "patients.name_birth", "physicians.rpps")
    values = {indexer.index(name, "185057800608436") for name in names}
    assert len(values) == len(names)


def test_blind_index_derivation_is_pinned() -> None:
    """Stored indexes depend on this exact derivation: HKDF sub-key per name, then HMAC, truncated.
    Computed here with the primitives directly, so a silent change in blind_index.py is caught."""
    root = bytes(range(32))
    subkey = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"labvault.blind-index.v1:patients.ins"
    ).derive(root)
    expected = hmac.new(subkey, b"DUPONT|1970-01-01", hashlib.sha256).digest()
    indexer = BlindIndexer(root)
    assert indexer.index("patients.ins", "DUPONT|1970-01-01", bits=256) == expected
    assert indexer.index("patients.ins", "DUPONT|1970-01-01") == expected[:8]


@pytest.mark.parametrize("bits", [16, 24, 32, 64, 128, 200, 256])
def test_blind_index_truncation_sizes(bits: int) -> None:
    indexer = BlindIndexer(random_key())
    full = indexer.index("patients.name_birth", "MARTIN|1980-02-29", bits=256)
    value = indexer.index("patients.name_birth", "MARTIN|1980-02-29", bits=bits)
    assert len(value) == bits // 8
    assert full.startswith(value)


@pytest.mark.parametrize("bits", [-8, 0, 8, 12, 15, 17, 100, 264, 512])
def test_blind_index_invalid_sizes_raise(bits: int) -> None:
    with pytest.raises(ValueError):
        BlindIndexer(random_key()).index("patients.nir", "185057800608436", bits=bits)


# --- file key provider ----------------------------------------------------------------------------


@pytest.fixture
def provider(tmp_path: Path) -> FileKeyProvider:
    assert FileKeyProvider.initialise(tmp_path / "keys", tmp_path / "data") is True
    return FileKeyProvider(tmp_path / "keys")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("key_dir", "data_dir"),
    [("data/keys", "data"), ("data", "data"), ("srv", "srv/data"), ("data/./x/../keys", "data")],
    ids=["inside", "equal", "containing", "inside-unnormalised"],
)
def test_initialise_refuses_a_key_dir_overlapping_the_data_dir(
    tmp_path: Path, key_dir: str, data_dir: str
) -> None:
    (tmp_path / data_dir).mkdir(parents=True)
    with pytest.raises(CryptoError, match="key directory"):
        FileKeyProvider.initialise(tmp_path / key_dir, tmp_path / data_dir)
    assert not list(tmp_path.rglob(ROOT_KEY_FILE)), "nothing may be written when refusing"


def test_initialise_refuses_a_symlink_into_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / "data" / "hidden").mkdir(parents=True)
    (tmp_path / "keys").symlink_to(tmp_path / "data" / "hidden")
    assert paths_overlap(tmp_path / "keys", tmp_path / "data")
    with pytest.raises(CryptoError):
        FileKeyProvider.initialise(tmp_path / "keys", tmp_path / "data")


def test_initialise_creates_a_private_root_key_once(tmp_path: Path) -> None:
    keys, data = tmp_path / "keys", tmp_path / "data"
    assert FileKeyProvider.initialise(keys, data) is True
    root = keys / ROOT_KEY_FILE
    assert _mode(root) == 0o600
    assert _mode(keys) & 0o077 == 0 and _mode(keys / LAB_KEK_DIR) & 0o077 == 0
    content = root.read_bytes()
    assert len(base64.b64decode(content.strip(), validate=True)) == 32
    assert FileKeyProvider.initialise(keys, data) is False
    assert root.read_bytes() == content, "a second initialise must never replace the root key"


def test_provider_without_root_key_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailable):
        FileKeyProvider(tmp_path)


def test_provider_rejects_a_root_key_of_the_wrong_size(tmp_path: Path) -> None:
    (tmp_path / ROOT_KEY_FILE).write_bytes(base64.b64encode(os.urandom(16)))
    with pytest.raises(CryptoError):
        FileKeyProvider(tmp_path)


def test_lab_kek_create_read_destroy(provider: FileKeyProvider) -> None:
    lab = uuid.uuid4()
    provider.create_lab_kek(lab)
    kek_file = provider.key_dir / LAB_KEK_DIR / f"{lab}.kek"
    assert _mode(kek_file) == 0o600
    kek = provider.lab_kek(lab)
    assert len(kek) == 32
    assert provider.lab_kek(lab) == kek
    assert FileKeyProvider(provider.key_dir).lab_kek(lab) == kek  # survives a restart
    assert kek not in kek_file.read_bytes() and base64.b64encode(kek) not in kek_file.read_bytes()
    with pytest.raises(CryptoError, match="already has"):
        provider.create_lab_kek(lab)
    assert provider.lab_kek(lab) == kek, "a refused re-creation must not replace the KEK"

    other = uuid.uuid4()
    provider.create_lab_kek(other)
    assert provider.lab_kek(other) != kek

    provider.destroy_lab_kek(lab)
    assert not kek_file.exists()
    with pytest.raises(KeyUnavailable):
        provider.lab_kek(lab)
    provider.destroy_lab_kek(lab)  # idempotent
    assert len(provider.lab_kek(other)) == 32, "destroying one lab leaves the others alone"


def test_kek_file_renamed_to_another_lab_fails_to_unwrap(provider: FileKeyProvider) -> None:
    lab_a, lab_b = uuid.uuid4(), uuid.uuid4()
    provider.create_lab_kek(lab_a)
    labs_dir = provider.key_dir / LAB_KEK_DIR
    (labs_dir / f"{lab_a}.kek").rename(labs_dir / f"{lab_b}.kek")
    with pytest.raises(IntegrityError):
        provider.lab_kek(lab_b)


def test_kek_file_from_another_installation_fails_to_unwrap(
    tmp_path: Path, provider: FileKeyProvider
) -> None:
    lab = uuid.uuid4()
    provider.create_lab_kek(lab)
    FileKeyProvider.initialise(tmp_path / "other-keys", tmp_path / "other-data")
    other = FileKeyProvider(tmp_path / "other-keys")
    name = f"{lab}.kek"
    (other.key_dir / LAB_KEK_DIR / name).write_bytes((provider.key_dir / LAB_KEK_DIR / name).read_bytes())
    with pytest.raises(IntegrityError):
        other.lab_kek(lab)


def test_derived_platform_keys_are_per_purpose(provider: FileKeyProvider) -> None:
    mac = provider.derive("audit-checkpoint-mac")
    assert len(mac) == 32
    assert mac == FileKeyProvider(provider.key_dir).derive("audit-checkpoint-mac")
    assert mac != provider.derive("something-else")
