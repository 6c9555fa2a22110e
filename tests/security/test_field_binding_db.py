"""Ciphertexts moved inside the real database (SQLite and PostgreSQL) never decrypt.

Someone with write access to the database but not to the keys (a DBA, a SQL injection, a restored
backup mixed with another) swaps encrypted values between rows, columns or laboratories, or moves a
whole row. Every service read of a touched row must then fail with IntegrityError naming the column
and row, never showing a clear value.

The platform is shared by the whole session: this module uses its own two labs, each test its own
fresh patients, and every change is undone in a ``finally`` (then the row is read back correctly),
which also proves the failure came from the move and nothing else.
"""

from __future__ import annotations

import datetime as dt
import string
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, Table, delete, insert, select, update

from labvault.crypto.errors import IntegrityError
from labvault.errors import NotFound
from labvault.identity.models import Patient
from labvault.identity.patient_data import ENCRYPTED_FIELDS, PatientRecord
from labvault.platform import Platform
from labvault.security.access import AccessContext, Role
from tests.factories import Factory

PATIENTS: Table = Patient.__table__  # type: ignore[assignment]
COLUMNS = tuple(f"{name}_enc" for name in ENCRYPTED_FIELDS)
MIN_SECRET_LEN = 5  # shorter clear values (sex "F") could occur by chance inside a uuid or a word

Change = tuple[uuid.UUID, dict[str, Any]]


@dataclass(frozen=True)
class Lab:
    id: uuid.UUID
    ctx: AccessContext


@dataclass(frozen=True)
class Env:
    factory: Factory
    a: Lab
    b: Lab

    @contextmanager
    def raw(self) -> Iterator[Connection]:
        """A plain connection, outside the services: no tenant filter, no crypto."""
        with self.factory.platform.db.owner_engine.begin() as conn:
            yield conn

    def row(self, row_id: uuid.UUID) -> dict[str, Any]:
        with self.raw() as conn:
            return dict(conn.execute(select(PATIENTS).where(PATIENTS.c.id == row_id)).mappings().one())

    def _write(self, changes: Sequence[Change]) -> None:
        with self.raw() as conn:
            for row_id, values in changes:
                result = conn.execute(update(PATIENTS).where(PATIENTS.c.id == row_id).values(values))
                assert result.rowcount == 1

    @contextmanager
    def tampered(self, *changes: Change) -> Iterator[None]:
        """Apply raw column changes in one transaction; put the original bytes back afterwards."""
        originals = [(row_id, {c: self.row(row_id)[c] for c in values}) for row_id, values in changes]
        self._write(changes)
        try:
            yield
        finally:
            self._write(originals)

    def register(self, lab: Lab) -> PatientRecord:
        """A patient with every encrypted field filled, so every column can be moved."""
        used_name = "".join(self.factory.rng.choices(string.ascii_uppercase, k=10)).capitalize()
        data = self.factory.patient_data(used_name=used_name, note=f"Note confidentielle {uuid.uuid4().hex}")
        record = self.factory.platform.patients.register(lab.ctx, data)
        raw = self.row(record.id)
        assert all(raw[column] is not None for column in COLUMNS), "test data must fill every column"
        return record

    def read(self, lab: Lab, row_id: uuid.UUID) -> PatientRecord:
        return self.factory.platform.patients.get(lab.ctx, row_id)

    def assert_read_fails(
        self, lab: Lab, row_id: uuid.UUID, columns: Sequence[str], *owners: PatientRecord
    ) -> None:
        """The service read raises IntegrityError naming one of ``columns`` and the row, nothing clear."""
        with pytest.raises(IntegrityError) as raised:
            self.read(lab, row_id)
        message = str(raised.value)
        assert any(f"patients.{column} of row {row_id}" in message for column in columns), message
        leaked = [secret for secret in _secrets(*owners) if secret in message]
        assert not leaked, f"clear value in the error message: {message!r}"

    def assert_read_ok(self, lab: Lab, *records: PatientRecord) -> None:
        for record in records:
            assert self.read(lab, record.id).data == record.data


def _secrets(*records: PatientRecord) -> list[str]:
    values: list[str] = []
    for record in records:
        for name in ENCRYPTED_FIELDS:
            value = getattr(record.data, name)
            text = value.isoformat() if isinstance(value, dt.date) else value
            if isinstance(text, str) and len(text) >= MIN_SECRET_LEN:
                values.append(text)
    return values


@pytest.fixture(scope="module")
def env(platform: Platform) -> Env:
    """Two labs per backend for this module (users cost an Argon2 hash each: made once)."""
    factory = Factory(platform)
    labs = []
    for name in ("Laboratoire A", "Laboratoire B"):
        info = factory.lab(name)
        labs.append(Lab(info.id, factory.ctx(info, Role.RECEPTION)))
    return Env(factory, labs[0], labs[1])


def test_swap_between_two_rows_of_the_same_lab(env: Env) -> None:
    first, second = env.register(env.a), env.register(env.a)
    raw_first, raw_second = env.row(first.id), env.row(second.id)
    for column in COLUMNS:
        one, two = raw_first[column], raw_second[column]
        assert one != two
        with env.tampered((first.id, {column: two}), (second.id, {column: one})):
            env.assert_read_fails(env.a, first.id, [column], first, second)
            env.assert_read_fails(env.a, second.id, [column], first, second)
        env.assert_read_ok(env.a, first, second)


@pytest.mark.parametrize(
    "pair",
    [
        ("birth_name_enc", "first_names_enc"),
        ("birth_name_enc", "used_name_enc"),
        ("nir_enc", "ins_enc"),  # usually the very same clear value: binding is by place, not content
        ("sex_enc", "birth_date_enc"),
        ("phone_enc", "email_enc"),
        ("address_enc", "note_enc"),
    ],
    ids=lambda pair: "<->".join(pair),
)
def test_swap_between_two_columns_of_the_same_row(env: Env, pair: tuple[str, str]) -> None:
    record = env.register(env.a)
    left, right = pair
    raw = env.row(record.id)
    with env.tampered((record.id, {left: raw[right], right: raw[left]})):
        env.assert_read_fails(env.a, record.id, pair, record)
    env.assert_read_ok(env.a, record)


def test_copy_into_an_empty_field(env: Env) -> None:
    """A ciphertext pasted over a sealed "no value" fails too (the column is in the AAD)."""
    record = env.factory.platform.patients.register(
        env.a.ctx, env.factory.patient_data(used_name=None, note=None)
    )
    raw = env.row(record.id)
    assert raw["used_name_enc"] is not None and raw["note_enc"] is not None  # absence is sealed too
    with env.tampered((record.id, {"note_enc": raw["birth_name_enc"]})):
        env.assert_read_fails(env.a, record.id, ["note_enc"], record)
    env.assert_read_ok(env.a, record)


@pytest.mark.parametrize("column", ["nir_enc", "note_enc", "birth_name_enc", "birth_date_enc"])
def test_nulling_an_encrypted_column_is_detected(env: Env, column: str) -> None:
    """Erasing a value by setting its column to NULL is an integrity error, not a missing value."""
    record = env.register(env.a)
    with env.tampered((record.id, {column: None})):
        env.assert_read_fails(env.a, record.id, [column], record)
    env.assert_read_ok(env.a, record)


def test_swap_between_labs_same_column(env: Env) -> None:
    in_a, in_b = env.register(env.a), env.register(env.b)
    raw_a, raw_b = env.row(in_a.id), env.row(in_b.id)
    for column in COLUMNS:
        with env.tampered((in_a.id, {column: raw_b[column]}), (in_b.id, {column: raw_a[column]})):
            env.assert_read_fails(env.a, in_a.id, [column], in_a, in_b)
            env.assert_read_fails(env.b, in_b.id, [column], in_a, in_b)
    env.assert_read_ok(env.a, in_a)
    env.assert_read_ok(env.b, in_b)


def test_whole_row_moved_to_another_lab(env: Env) -> None:
    record = env.register(env.b)
    with env.tampered((record.id, {"lab_id": env.a.id})):
        env.assert_read_fails(env.a, record.id, COLUMNS, record)
        with pytest.raises(NotFound):
            env.read(env.b, record.id)
    env.assert_read_ok(env.b, record)


def test_whole_row_copied_under_another_id(env: Env) -> None:
    record = env.register(env.a)
    clone_id = uuid.uuid4()
    clone = {**env.row(record.id), "id": clone_id}  # read first: SQLite takes the write lock on begin
    with env.raw() as conn:
        conn.execute(insert(PATIENTS).values(clone))
    try:
        env.assert_read_fails(env.a, clone_id, COLUMNS, record)
    finally:
        with env.raw() as conn:
            conn.execute(delete(PATIENTS).where(PATIENTS.c.id == clone_id))
    env.assert_read_ok(env.a, record)
