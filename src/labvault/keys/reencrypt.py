"""Background re-encryption after a key rotation: every encrypted column of a lab, in batches.

Each batch is its own short transaction, so the lab keeps working during the re-encryption:
reads use whichever version a value carries, writes use the new one. Resumable: values already
under the active version are skipped.

It also seals the row links of rows written before links were bound (migration 0013), then has the
lab's data keys attest it: from then on a row without a seal is an integrity error (see
store/bound_links.py). The link key does not rotate, so seals already there stay valid.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Table, func, select, update

from labvault.crypto.field_cipher import header_of
from labvault.keys.store import KeyStore
from labvault.store.base import Base
from labvault.store.bound_links import MAC_COLUMN, bound_columns, bound_tables, seal_values
from labvault.store.database import Database


def encrypted_tables() -> Iterator[tuple[Table, list[str]]]:
    """Every table with a ``lab_id`` and at least one column tagged ``encrypted``."""
    for table in Base.metadata.sorted_tables:
        columns = [c.name for c in table.columns if c.info.get("encrypted")]
        if columns and "lab_id" in table.columns and "id" in table.columns:
            yield table, columns


@dataclass
class ReEncryptionReport:
    rows_examined: int = 0
    values_rewritten: int = 0
    skipped_rows: int = 0  # changed concurrently: written under the new key by that change, or next run
    links_sealed: int = 0  # rows from before 0013 whose links were sealed now
    links_bound: bool = False  # the lab's keys attest that every row carries a link seal


class ReEncryptor:
    def __init__(self, db: Database, keys: KeyStore, batch_size: int = 500) -> None:
        self.db = db
        self.keys = keys
        self.batch_size = batch_size

    def run(self, lab_id: uuid.UUID) -> ReEncryptionReport:
        """Re-encrypt every value of ``lab_id`` not yet under the active key version."""
        report = ReEncryptionReport()
        for table, columns in encrypted_tables():
            last: uuid.UUID | None = None
            while True:
                with self.db.maintenance() as session:
                    cipher = self.keys.keyset(session, lab_id).cipher
                    query = select(table.c.id, *(table.c[c] for c in columns)).where(table.c.lab_id == lab_id)
                    if last is not None:
                        query = query.where(table.c.id > last)
                    rows = session.execute(query.order_by(table.c.id).limit(self.batch_size)).all()
                    for row in rows:
                        report.rows_examined += 1
                        changes: dict[str, bytes | None] = {}
                        for column in columns:
                            blob = getattr(row, column)
                            if blob is None or header_of(blob)[1] == cipher.active_version:
                                continue
                            changes[column] = cipher.reseal(table.name, column, row.id, blob)
                        if changes:
                            # Only if no one changed those values since we read them (no lost update).
                            unchanged = [table.c[column] == getattr(row, column) for column in changes]
                            result = session.execute(
                                update(table).where(table.c.id == row.id, *unchanged).values(**changes)
                            )
                            if result.rowcount:  # type: ignore[attr-defined]
                                report.values_rewritten += len(changes)
                            else:
                                report.skipped_rows += 1
                if len(rows) < self.batch_size:
                    break
                last = rows[-1].id
        report.links_sealed, report.links_bound = self.bind_links(lab_id)
        return report

    def bind_links(self, lab_id: uuid.UUID) -> tuple[int, bool]:
        """Seal the links of every row of ``lab_id`` that has no seal yet (written before 0013: what
        they link now is what gets sealed), then, once none is left, have the lab's data keys attest
        it. Returns (rows sealed, whether the lab is bound). Idempotent and resumable."""
        sealed = 0
        for table in bound_tables():
            names = bound_columns(table)
            while True:
                with self.db.maintenance() as session:
                    keys = self.keys.keyset(session, lab_id)
                    rows = session.execute(
                        select(table.c.id, *(table.c[name] for name in names))
                        .where(table.c.lab_id == lab_id, table.c[MAC_COLUMN].is_(None))
                        .order_by(table.c.id)
                        .limit(self.batch_size)
                    ).all()
                    for row in rows:
                        mac = seal_values(keys, table, row.id, dict(row._mapping))
                        # Only if still unsealed: the services seal every row they write themselves.
                        session.execute(
                            update(table)
                            .where(table.c.id == row.id, table.c[MAC_COLUMN].is_(None))
                            .values({MAC_COLUMN: mac})
                        )
                        sealed += 1
                if len(rows) < self.batch_size:
                    break
        with self.db.maintenance() as session:
            if self.keys.keyset(session, lab_id).links_bound:
                return sealed, True
            for table in bound_tables():
                left = session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.lab_id == lab_id, table.c[MAC_COLUMN].is_(None))
                )
                if left:
                    return sealed, False
            self.keys.attest_links_bound(session, lab_id)
        return sealed, True
