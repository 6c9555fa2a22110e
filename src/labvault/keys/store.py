"""Loads and manages each laboratory's key set.

Data keys are versioned: the highest non-retired version encrypts new writes, every version still
present decrypts. The blind-index key is separate and never rotates (rotating it would mean
recomputing every index; it is bound to the lab by HKDF and never used to encrypt).

Every statement on ``lab_keys`` runs with the lab it is about declared (``declared_lab``): platform
transactions (lab creation and shredding, rotation, an account's encrypted name) reach one lab's
keys that way, and on PostgreSQL row-level security shows no lab's keys to anything else.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from labvault.crypto.aead import random_key
from labvault.crypto.blind_index import BlindIndexer
from labvault.crypto.errors import KeyUnavailable
from labvault.crypto.field_cipher import FieldCipher
from labvault.crypto.key_provider import KeyProvider
from labvault.crypto.keyset import (
    PURPOSE_DATA,
    PURPOSE_INDEX,
    LabKeySet,
    unwrap_key_bound,
    wrap_key,
)
from labvault.crypto.row_links import LinkSealer
from labvault.keys.models import LabKey
from labvault.store.database import declared_lab

SESSION_KEYSETS = "labvault.keysets"  # the key sets a transaction loaded, by lab


def used_in(session: Session, keys: LabKeySet) -> LabKeySet:
    """Remember the keys in the transaction's session: the checks run from the audit choke point
    (the canary lookup, oversight/canaries.py) reuse them without reading the marker again."""
    session.info.setdefault(SESSION_KEYSETS, {})[keys.lab_id] = keys
    return keys


class KeyStore:
    """Thread-safe cache of unwrapped key sets, backed by ``lab_keys`` and the key provider."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider
        self._cache: dict[uuid.UUID, tuple[tuple[int, int], LabKeySet]] = {}
        self._lock = threading.Lock()

    def create_lab_keys(self, session: Session, lab_id: uuid.UUID) -> None:
        """New lab: a KEK in the provider, data key v1 and the index key wrapped in the database."""
        self.provider.create_lab_kek(lab_id)
        kek = self.provider.lab_kek(lab_id)
        with declared_lab(session, lab_id):
            for purpose in (PURPOSE_DATA, PURPOSE_INDEX):
                # A new lab has no row without a link seal: its first data key says so at once.
                wrapped = wrap_key(kek, lab_id, purpose, 1, random_key(), bound=purpose == PURPOSE_DATA)
                session.add(LabKey(lab_id=lab_id, purpose=purpose, version=1, wrapped=wrapped))

    def keyset(self, session: Session, lab_id: uuid.UUID) -> LabKeySet:
        """The lab's keys as of the caller's transaction. A cheap marker (number of key rows, highest
        id) is read each time, so a rotation, retirement or shredding done by another process (the
        CLI, another worker) is seen by the next transaction, not whenever this cache expires."""
        with declared_lab(session, lab_id):
            count, highest = session.execute(
                select(func.count(LabKey.id), func.max(LabKey.id)).where(LabKey.lab_id == lab_id)
            ).one()
            marker: tuple[int, int] = (int(count), int(highest or 0))
            if count == 0:
                raise KeyUnavailable(f"laboratory {lab_id} has no key set (destroyed?)")
            cached = self._cache.get(lab_id)
            if cached is not None and cached[0] == marker:
                return used_in(session, cached[1])
            with self._lock:
                current = self._cache.get(lab_id)
                if current is None or current[0] != marker:
                    current = (marker, self._load(session, lab_id))
                    self._cache[lab_id] = current
                return used_in(session, current[1])

    def _load(self, session: Session, lab_id: uuid.UUID) -> LabKeySet:
        rows = session.scalars(select(LabKey).where(LabKey.lab_id == lab_id)).all()
        if not rows:
            raise KeyUnavailable(f"laboratory {lab_id} has no key set (destroyed?)")
        kek = self.provider.lab_kek(lab_id)
        data_keys: dict[int, bytes] = {}
        active = 0
        index_key: bytes | None = None
        links_bound = False
        for row in rows:
            key, bound = unwrap_key_bound(kek, lab_id, row.purpose, row.version, row.wrapped)
            if row.purpose == PURPOSE_INDEX:
                index_key = key
            elif row.purpose == PURPOSE_DATA:
                data_keys[row.version] = key
                links_bound = links_bound or bound
                if row.retired_at is None:
                    active = max(active, row.version)
        if index_key is None or not active:
            raise KeyUnavailable(f"laboratory {lab_id} key set is incomplete")
        return LabKeySet(
            lab_id,
            FieldCipher(lab_id, data_keys, active),
            BlindIndexer(index_key),
            LinkSealer(lab_id, index_key),
            links_bound,
        )

    def forget(self, lab_id: uuid.UUID | None = None) -> None:
        """Drop cached keys (all labs when None): after rotation or destruction, or on shutdown."""
        with self._lock:
            if lab_id is None:
                self._cache.clear()
            else:
                self._cache.pop(lab_id, None)

    def rotate(self, session: Session, lab_id: uuid.UUID) -> int:
        """Add a new data key version that becomes the one new writes use; returns it."""
        with declared_lab(session, lab_id):
            current = session.scalar(
                select(func.max(LabKey.version)).where(
                    LabKey.lab_id == lab_id, LabKey.purpose == PURPOSE_DATA
                )
            )
            if current is None:
                raise KeyUnavailable(f"laboratory {lab_id} has no key set (destroyed?)")
            version = current + 1
            kek = self.provider.lab_kek(lab_id)
            bound = self.keyset(session, lab_id).links_bound  # a rotation keeps the attestation
            session.add(
                LabKey(
                    lab_id=lab_id,
                    purpose=PURPOSE_DATA,
                    version=version,
                    wrapped=wrap_key(kek, lab_id, PURPOSE_DATA, version, random_key(), bound=bound),
                )
            )
            session.flush()
        self.forget(lab_id)
        return version

    def attest_links_bound(self, session: Session, lab_id: uuid.UUID) -> None:
        """Re-wrap every data key of the lab as attesting that all its rows carry link seals (the
        caller has just checked there is none left without one): from now on a missing seal is an
        integrity error. Idempotent."""
        with declared_lab(session, lab_id):
            rows = session.scalars(
                select(LabKey).where(LabKey.lab_id == lab_id, LabKey.purpose == PURPOSE_DATA)
            ).all()
            if not rows:
                raise KeyUnavailable(f"laboratory {lab_id} has no key set (destroyed?)")
            kek = self.provider.lab_kek(lab_id)
            for row in rows:
                key, bound = unwrap_key_bound(kek, lab_id, PURPOSE_DATA, row.version, row.wrapped)
                if bound:
                    continue
                # A new row rather than an update: its id moves the key-set marker, so every
                # worker's cache (KeyStore.keyset) sees the attestation at its next transaction.
                session.delete(row)
                session.flush()
                session.add(
                    LabKey(
                        lab_id=lab_id,
                        purpose=PURPOSE_DATA,
                        version=row.version,
                        wrapped=wrap_key(kek, lab_id, PURPOSE_DATA, row.version, key, bound=True),
                        created_at=row.created_at,
                        retired_at=row.retired_at,
                    )
                )
            session.flush()
        self.forget(lab_id)

    def retire_versions_below(self, session: Session, lab_id: uuid.UUID, version: int) -> int:
        """After re-encryption: delete the older data keys so their ciphertexts are gone for good."""
        with declared_lab(session, lab_id):
            result = session.execute(
                delete(LabKey).where(
                    LabKey.lab_id == lab_id, LabKey.purpose == PURPOSE_DATA, LabKey.version < version
                )
            )
        self.forget(lab_id)
        return int(result.rowcount)  # type: ignore[attr-defined]

    def destroy(self, session: Session, lab_id: uuid.UUID) -> None:
        """Crypto-shred, step 1 (in the caller's transaction): delete the wrapped keys."""
        with declared_lab(session, lab_id):
            session.execute(delete(LabKey).where(LabKey.lab_id == lab_id))
        self.forget(lab_id)

    def destroy_kek(self, lab_id: uuid.UUID) -> None:
        """Crypto-shred, step 2 (after commit): destroy the lab's KEK, which backups hold no copy of."""
        self.provider.destroy_lab_kek(lab_id)
        self.forget(lab_id)
