"""Audit log tampering: edits, deletions, reorderings and truncations are all detected.

In-memory: 200 random tamperings of a chain through the pure verifier. In the database (both
backends): an attacker with DDL rights drops the append-only triggers and edits the table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import uuid

import pytest
from sqlalchemy import Connection, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.audit import AuditUnavailable
from labvault.security.audit_chain import GENESIS, ChainEntry, StoredEntry, entry_hash, verify_entries
from labvault.security.checkpoint import CHECKPOINT_FILE, CheckpointError
from labvault.security.models import AuditEvent, AuditHead
from tests.conftest import Factory

EVENTS = AuditEvent.__table__
HEADS = AuditHead.__table__


def build_chain(length: int) -> list[StoredEntry]:
    prev = GENESIS
    chain: list[StoredEntry] = []
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for seq in range(1, length + 1):
        entry = ChainEntry(
            "lab", seq, at + dt.timedelta(seconds=seq), uuid.uuid4(), uuid.uuid4(), "u", "biologist",
            "patient.read", "patient", str(uuid.uuid4()), "care", "127.0.0.1", {"n": seq},
        )  # fmt: skip
        digest = entry_hash(prev, entry)
        chain.append(StoredEntry(entry, prev, digest))
        prev = digest
    return chain


def tamper(chain: list[StoredEntry], rng: random.Random) -> tuple[str, list[StoredEntry]]:
    tampered = list(chain)
    i = rng.randrange(len(chain))
    kind = rng.choice(
        ["edit-action", "edit-time", "edit-detail", "edit-actor", "delete", "reorder", "rehash"]
    )
    e = tampered[i].entry
    if kind == "edit-action":
        tampered[i] = dataclasses.replace(tampered[i], entry=dataclasses.replace(e, action="patient.update"))
    elif kind == "edit-time":
        tampered[i] = dataclasses.replace(
            tampered[i], entry=dataclasses.replace(e, at=e.at + dt.timedelta(microseconds=1))
        )
    elif kind == "edit-detail":
        tampered[i] = dataclasses.replace(tampered[i], entry=dataclasses.replace(e, detail={"n": -1}))
    elif kind == "edit-actor":
        tampered[i] = dataclasses.replace(tampered[i], entry=dataclasses.replace(e, actor_id=uuid.uuid4()))
    elif kind == "delete":
        del tampered[i]
    elif kind == "reorder":
        j = rng.choice([k for k in range(len(chain)) if k != i])
        tampered[i], tampered[j] = tampered[j], tampered[i]
    else:  # edit, and recompute this entry's own hash: the next link breaks (or the tail, if last)
        new = dataclasses.replace(e, action="patient.delete")
        tampered[i] = StoredEntry(new, tampered[i].prev_hash, entry_hash(tampered[i].prev_hash, new))
        if i == len(chain) - 1:
            return "rehash-last", tampered
    return kind, tampered


def test_untouched_chain_verifies() -> None:
    report = verify_entries("lab", build_chain(50))
    assert report.ok and report.length == 50


def test_random_tamperings_all_detected() -> None:
    rng = random.Random(6962)
    chain = build_chain(40)
    kinds: dict[str, int] = {}
    for _ in range(200):
        kind, tampered = tamper(chain, rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        report = verify_entries("lab", tampered)
        if kind in ("rehash-last",) or (kind == "delete" and len(tampered) == len(chain) - 1 and report.ok):
            # Only a rewritten or dropped *last* entry keeps a valid chain: the external checkpoint
            # (tip hash and length) is what catches it.
            assert report.length <= len(chain)
            assert report.last_hash != chain[-1].entry_hash or report.length != len(chain)
            continue
        assert not report.ok, kind
    assert len(kinds) >= 6


# --- in the database -----------------------------------------------------------------------------


def drop_append_only_guards(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))


def populated(factory: Factory) -> tuple[Platform, str]:
    lab = factory.lab()
    ctx = factory.ctx(lab, Role.BIOLOGIST)
    records = [factory.platform.patients.register(ctx, factory.patient_data()) for _ in range(3)]
    for record in records:
        factory.platform.patients.get(ctx, record.id)
    factory.platform.audit.checkpoint()
    return factory.platform, str(lab.id)


def problems(platform: Platform) -> list[str]:
    result = platform.audit.verify()
    return result.problems


def test_append_only_guard_refuses_update_and_delete(fresh_factory: Factory) -> None:
    platform, chain = populated(fresh_factory)
    with pytest.raises(DBAPIError, match="append-only"), platform.db.engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == chain).values(action="x"))
    with pytest.raises(DBAPIError, match="append-only"), platform.db.engine.begin() as conn:
        conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain))
    assert problems(platform) == []


@pytest.mark.parametrize("attack", ["edit", "delete-middle", "reorder", "truncate", "truncate-and-fix-head"])
def test_database_tampering_detected(fresh_factory: Factory, attack: str) -> None:
    platform, chain = populated(fresh_factory)
    assert problems(platform) == []
    with platform.db.engine.begin() as conn:
        drop_append_only_guards(conn)
        rows = conn.execute(select(EVENTS).where(EVENTS.c.chain == chain).order_by(EVENTS.c.chain_seq)).all()
        assert len(rows) == 7  # the admin creating the test user, 3 creates, 3 reads
        if attack == "edit":
            conn.execute(update(EVENTS).where(EVENTS.c.seq == rows[3].seq).values(detail={"forged": True}))
        elif attack == "delete-middle":
            conn.execute(delete(EVENTS).where(EVENTS.c.seq == rows[3].seq))
        elif attack == "reorder":
            a, b = rows[2], rows[4]
            conn.execute(update(EVENTS).where(EVENTS.c.seq == a.seq).values(chain_seq=-1))
            conn.execute(update(EVENTS).where(EVENTS.c.seq == b.seq).values(chain_seq=a.chain_seq))
            conn.execute(update(EVENTS).where(EVENTS.c.seq == a.seq).values(chain_seq=b.chain_seq))
        else:
            conn.execute(delete(EVENTS).where(EVENTS.c.seq.in_([rows[-1].seq, rows[-2].seq])))
            if attack == "truncate-and-fix-head":
                conn.execute(
                    update(HEADS)
                    .where(HEADS.c.chain == chain)
                    .values(last_seq=rows[-3].chain_seq, last_hash=rows[-3].entry_hash)
                )
    found = problems(platform)
    assert found, attack
    assert all(p.startswith(f"chain {chain}:") for p in found)
    if attack == "truncate-and-fix-head":
        assert any("truncated" in p for p in found)


def test_forged_checkpoint_is_refused(fresh_factory: Factory) -> None:
    platform, chain = populated(fresh_factory)
    path = platform.settings.resolved_checkpoint_dir() / CHECKPOINT_FILE
    document = json.loads(path.read_text())
    document["chains"][chain]["length"] = 1
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="invalid MAC"):
        platform.audit.verify()


def test_audit_events_hold_no_personal_data(fresh_factory: Factory) -> None:
    platform, chain = populated(fresh_factory)
    lab_ctx_data = fresh_factory.patient_data()
    with platform.db.engine.connect() as conn:
        dump = repr(conn.execute(select(EVENTS).where(EVENTS.c.chain == chain)).all())
    assert lab_ctx_data.birth_name not in dump
    assert "patient.read" in dump and "patient.create" in dump


def test_empty_chains_verify_against_a_checkpoint(fresh_factory: Factory) -> None:
    platform = fresh_factory.platform
    platform.audit.checkpoint_heads()  # platform chain may be empty or not; new lab chain below is empty
    lab = fresh_factory.lab()
    platform.audit.checkpoint_heads()
    assert str(lab.id) in {r.chain for r in platform.audit.verify().reports}
    assert problems(platform) == []


def test_periodic_checkpoint_refuses_a_rewritten_log(fresh_factory: Factory) -> None:
    """Delete an entry, recompute the whole chain and the head: verify sees the truncation, and
    the server's periodic checkpoint must refuse to bless the rewritten log."""
    platform, chain = populated(fresh_factory)
    with platform.db.engine.begin() as conn:
        drop_append_only_guards(conn)
        rows = conn.execute(select(EVENTS).where(EVENTS.c.chain == chain).order_by(EVENTS.c.chain_seq)).all()
        conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain))
        prev = GENESIS
        kept = [row for row in rows if row.chain_seq != 4]
        for seq, row in enumerate(kept, start=1):
            entry = ChainEntry(
                row.chain, seq, row.at, row.lab_id, row.actor_id, row.actor_label, row.role, row.action,
                row.object_type, row.object_id, row.purpose, row.origin, row.detail, row.patient_id,
            )  # fmt: skip
            digest = entry_hash(prev, entry)
            values = {c: getattr(row, c) for c in row._fields if c != "seq"}
            values.update(chain_seq=seq, prev_hash=prev, entry_hash=digest)
            conn.execute(EVENTS.insert().values(**values))
            prev = digest
        conn.execute(update(HEADS).where(HEADS.c.chain == chain).values(last_seq=len(kept), last_hash=prev))
    assert any("truncated" in p for p in problems(platform))
    with pytest.raises(AuditUnavailable, match="shorter than its checkpoint"):
        platform.audit.checkpoint_heads()
    assert any("truncated" in p for p in problems(platform))
