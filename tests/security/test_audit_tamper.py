"""Audit log tampering: edits, deletions, reorderings, truncations and rewrites are all detected.

In-memory: 200 random tamperings of a chain through the pure verifier. In the database (both
backends): an attacker with DDL rights (the owner connection) drops the append-only triggers and
edits the table, even recomputing the hash chain and the Merkle frontier; the Ed25519-signed
checkpoint outside the database, which that attacker cannot re-sign, catches every case.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from labvault.errors import Forbidden, NotFound
from labvault.platform import Platform
from labvault.security import merkle
from labvault.security.access import AccessContext, Role
from labvault.security.audit import AuditUnavailable
from labvault.security.audit_chain import GENESIS, ChainEntry, StoredEntry, entry_hash, verify_entries
from labvault.security.checkpoint import CHECKPOINT_FILE, CheckpointError
from labvault.security.merkle import Frontier, leaf_hash
from labvault.security.models import AuditEvent, AuditHead
from labvault.security.signed_checkpoint import (
    KEY_NAME,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    origin_of,
)
from tests.factories import Factory

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

EVENT_FIELDS = (
    "chain", "chain_seq", "at", "lab_id", "actor_id", "actor_label", "role", "action", "object_type",
    "object_id", "purpose", "origin", "detail", "patient_id",
)  # fmt: skip


def drop_append_only_guards(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))


@dataclass
class Lab:
    platform: Platform
    chain: str
    admin: AccessContext  # a lab admin: holds audit.read for this chain
    staff: AccessContext  # a biologist: reads and writes patients


# Each account's creation (its event and its alert's) and its owner setting their own password.
ACCOUNT_EVENTS = 3
POPULATED_SIZE = 2 * ACCOUNT_EVENTS + 2 * 3  # populated() with its default 3 patients


def populated(factory: Factory, patients: int = 3) -> Lab:
    """A lab whose chain holds 2 * ACCOUNT_EVENTS + 2 * patients events, all under a signed
    checkpoint."""
    lab = factory.lab()
    admin = factory.ctx(lab, Role.LAB_ADMIN)  # the lab's first admin, by the operator: on its chain
    staff = factory.ctx(lab, Role.BIOLOGIST)  # the admin creating the biologist
    touch(factory, staff, patients)
    factory.platform.audit.checkpoint()
    return Lab(factory.platform, str(lab.id), admin, staff)


def touch(factory: Factory, ctx: AccessContext, patients: int) -> None:
    records = [factory.platform.patients.register(ctx, factory.patient_data()) for _ in range(patients)]
    for record in records:
        factory.platform.patients.get(ctx, record.id)


def problems(platform: Platform) -> list[str]:
    result = platform.audit.verify()
    return result.problems


def chain_rows(conn: Connection, chain: str) -> list[Any]:
    return list(conn.execute(select(EVENTS).where(EVENTS.c.chain == chain).order_by(EVENTS.c.chain_seq)))


def signed_checkpoint(lab: Lab) -> Checkpoint:
    """The chain's signed checkpoint, opened with nothing but the public key."""
    heads = {head.chain: head for head in lab.platform.audit.signed_heads(lab.admin)}
    verifier = NoteVerifier.parse(lab.platform.audit.public_key())
    return open_checkpoint(verifier, heads[lab.chain].note, origin_of(lab.chain))


def rewrite(conn: Connection, chain: str, entries: list[ChainEntry]) -> None:
    """What an attacker with the database can do: replace the chain by ``entries`` with a valid
    hash chain, a matching head and a recomputed Merkle frontier."""
    conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain))
    prev, frontier = GENESIS, Frontier()
    for seq, entry in enumerate(entries, start=1):
        entry = dataclasses.replace(entry, chain_seq=seq)
        digest = entry_hash(prev, entry)
        conn.execute(insert(EVENTS).values(**vars(entry), prev_hash=prev, entry_hash=digest))
        frontier.append(leaf_hash(digest))
        prev = digest
    conn.execute(
        update(HEADS)
        .where(HEADS.c.chain == chain)
        .values(last_seq=len(entries), last_hash=prev, merkle_frontier=frontier.to_bytes())
    )


def as_entry(row: Any) -> ChainEntry:
    return ChainEntry(**{name: getattr(row, name) for name in EVENT_FIELDS})


def forged_entry(template: ChainEntry, rng: random.Random) -> ChainEntry:
    return dataclasses.replace(
        template, action="patient.read", object_id=str(uuid.UUID(int=rng.getrandbits(128)))
    )


EDITS: dict[str, Any] = {
    "action": lambda row, rng: "patient.update",
    "detail": lambda row, rng: {"forged": rng.random()},
    "at": lambda row, rng: row.at + dt.timedelta(microseconds=rng.randint(1, 10**6)),
    "actor_label": lambda row, rng: "someone.else",
    "actor_id": lambda row, rng: uuid.uuid4(),
    "object_id": lambda row, rng: str(uuid.uuid4()),
    "patient_id": lambda row, rng: uuid.uuid4(),
    "purpose": lambda row, rng: "maintenance" if row.purpose != "maintenance" else "care",
    "origin": lambda row, rng: "10.0.0.66",
    "role": lambda row, rng: "platform_operator",
    "prev_hash": lambda row, rng: rng.randbytes(32),
    "entry_hash": lambda row, rng: rng.randbytes(32),
}
KINDS = ("edit", "delete", "reorder", "truncate", "truncate-fix-head", "rewrite", "rewrite-refill", "rehash")
REWRITES = {"truncate-fix-head", "rewrite", "rewrite-refill", "rehash"}  # head and frontier consistent


def tamper_db(conn: Connection, chain: str, kind: str, rng: random.Random) -> None:
    rows = chain_rows(conn, chain)
    i = rng.randrange(len(rows))
    row = rows[i]
    if kind == "edit":
        column = rng.choice(sorted(EDITS))
        conn.execute(update(EVENTS).where(EVENTS.c.seq == row.seq).values({column: EDITS[column](row, rng)}))
    elif kind == "delete":
        conn.execute(delete(EVENTS).where(EVENTS.c.seq == row.seq))
    elif kind == "reorder":
        other = rows[rng.choice([k for k in range(len(rows)) if k != i])]
        conn.execute(update(EVENTS).where(EVENTS.c.seq == row.seq).values(chain_seq=-1))
        conn.execute(update(EVENTS).where(EVENTS.c.seq == other.seq).values(chain_seq=row.chain_seq))
        conn.execute(update(EVENTS).where(EVENTS.c.seq == row.seq).values(chain_seq=other.chain_seq))
    elif kind in ("truncate", "truncate-fix-head"):
        cut = rng.randint(1, 3)
        conn.execute(delete(EVENTS).where(EVENTS.c.seq.in_([r.seq for r in rows[-cut:]])))
        if kind == "truncate-fix-head":
            rewrite(conn, chain, [as_entry(r) for r in rows[:-cut]])
    elif kind in ("rewrite", "rewrite-refill"):
        kept = [as_entry(r) for k, r in enumerate(rows) if k != i]
        if kind == "rewrite-refill":  # forged entries make up the length, and more
            kept += [forged_entry(kept[-1], rng) for _ in range(1 + rng.randint(0, 2))]
        rewrite(conn, chain, kept)
    else:  # rehash: edit one entry and recompute every hash from there, same length
        entries = [as_entry(r) for r in rows]
        entries[i] = dataclasses.replace(entries[i], action="patient.delete")
        rewrite(conn, chain, entries)


def restore(conn: Connection, chain: str, rows: list[Any], head: Any) -> None:
    conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain))
    conn.execute(insert(EVENTS), [dict(row._mapping) for row in rows])
    conn.execute(update(HEADS).where(HEADS.c.chain == chain).values(**dict(head._mapping)))


def test_random_tamperings_caught_by_the_signed_checkpoint(fresh_factory: Factory) -> None:
    """100 random tamperings of a signed chain, each undone before the next: every one is found
    by ``verify()``, and those that leave a self-consistent log (hash chain, head and frontier
    recomputed) cannot be signed either: the consistency proof against the signed root fails."""
    lab = populated(fresh_factory, patients=9)  # 19 entries: an unbalanced tree
    platform, chain = lab.platform, lab.chain
    rng = random.Random(4_2021)
    with platform.db.owner_engine.begin() as conn:
        drop_append_only_guards(conn)
        original, head = (
            chain_rows(conn, chain),
            conn.execute(select(HEADS).where(HEADS.c.chain == chain)).one(),
        )
    assert len(original) >= 19 and problems(platform) == []
    seen: dict[str, int] = {}
    for round_ in range(100):
        kind = KINDS[round_ % len(KINDS)] if round_ < len(KINDS) else rng.choice(KINDS)
        seen[kind] = seen.get(kind, 0) + 1
        with platform.db.owner_engine.begin() as conn:
            tamper_db(conn, chain, kind, rng)
        found = problems(platform)
        assert found, f"round {round_}: {kind} went unnoticed"
        assert all(p.startswith(f"chain {chain}:") for p in found), found
        if kind in REWRITES:
            # The hash chain and the head are self-consistent: only the signed tree tells.
            assert any("truncated" in p or "signed checkpoint" in p for p in found), (kind, found)
            with pytest.raises(AuditUnavailable, match="signed checkpoint"):
                platform.audit.checkpoint_heads()
        with pytest.raises(AuditUnavailable):
            platform.audit.checkpoint()
        with platform.db.owner_engine.begin() as conn:
            restore(conn, chain, original, head)
        assert problems(platform) == [], f"round {round_}: restore failed"
    assert set(seen) == set(KINDS)


def test_append_only_guard_refuses_update_and_delete(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    with pytest.raises(DBAPIError, match="append-only"), lab.platform.db.owner_engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == lab.chain).values(action="x"))
    with pytest.raises(DBAPIError, match="append-only"), lab.platform.db.owner_engine.begin() as conn:
        conn.execute(delete(EVENTS).where(EVENTS.c.chain == lab.chain))
    assert problems(lab.platform) == []


@pytest.mark.parametrize("attack", ["edit", "delete-middle", "reorder", "truncate", "truncate-and-fix-head"])
def test_database_tampering_detected(fresh_factory: Factory, attack: str) -> None:
    lab = populated(fresh_factory)
    assert problems(lab.platform) == []
    with lab.platform.db.owner_engine.begin() as conn:
        drop_append_only_guards(conn)
        rows = chain_rows(conn, lab.chain)
        assert len(rows) >= 7  # the admins creating the test users, 3 creates, 3 reads
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
                    .where(HEADS.c.chain == lab.chain)
                    .values(last_seq=rows[-3].chain_seq, last_hash=rows[-3].entry_hash)
                )
    found = problems(lab.platform)
    assert found, attack
    assert all(p.startswith(f"chain {lab.chain}:") for p in found)
    if attack == "truncate-and-fix-head":
        assert any("truncated" in p for p in found)
        assert any("Merkle frontier" in p for p in found)  # the head was fixed, its frontier not


def test_a_tampered_frontier_is_found_and_not_signed(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    touch(fresh_factory, lab.staff, 1)  # unsigned entries on top of the signed ones
    with lab.platform.db.owner_engine.begin() as conn:
        frontier = conn.execute(
            select(HEADS.c.merkle_frontier).where(HEADS.c.chain == lab.chain)
        ).scalar_one()
        forged = bytes([frontier[0] ^ 1]) + frontier[1:]
        conn.execute(update(HEADS).where(HEADS.c.chain == lab.chain).values(merkle_frontier=forged))
    assert any("Merkle frontier" in p for p in problems(lab.platform))
    with pytest.raises(AuditUnavailable, match="not consistent with its signed checkpoint"):
        lab.platform.audit.checkpoint_heads()


def test_rewritten_log_is_refused_and_cannot_be_re_signed(fresh_factory: Factory) -> None:
    """Delete an entry and recompute everything the database holds: verify sees the truncation,
    both checkpoint paths refuse, and a checkpoint the attacker signs with a key of their own is
    refused outright."""
    lab = populated(fresh_factory)
    platform = lab.platform
    with platform.db.owner_engine.begin() as conn:
        drop_append_only_guards(conn)
        rows = chain_rows(conn, lab.chain)
        rewrite(conn, lab.chain, [as_entry(r) for r in rows if r.chain_seq != 4])
    assert any("truncated" in p for p in problems(platform))
    with pytest.raises(AuditUnavailable, match="shorter than its signed checkpoint"):
        platform.audit.checkpoint_heads()
    with pytest.raises(AuditUnavailable, match="failed verification"):
        platform.audit.checkpoint()
    # The attacker signs the rewritten tree with their own key, under the platform's key name.
    with platform.db.owner_engine.connect() as conn:
        head = conn.execute(select(HEADS).where(HEADS.c.chain == lab.chain)).one()
    tree = Frontier.from_bytes(head.last_seq, head.merkle_frontier)
    impostor = NoteSigner(KEY_NAME, Ed25519PrivateKey.generate())
    path = platform.settings.resolved_checkpoint_dir() / CHECKPOINT_FILE
    document = json.loads(path.read_text())
    document["chains"][lab.chain]["note"] = impostor.sign(
        Checkpoint(origin_of(lab.chain), tree.size, tree.root()).text()
    )
    document["key"] = impostor.verifier.vkey()
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="signature"):
        platform.audit.verify()


@pytest.mark.parametrize("forgery", ["size", "root", "origin", "other-key", "unsigned"])
def test_forged_checkpoint_is_refused(fresh_factory: Factory, forgery: str) -> None:
    lab = populated(fresh_factory)
    path = lab.platform.settings.resolved_checkpoint_dir() / CHECKPOINT_FILE
    document = json.loads(path.read_text())
    entry = document["chains"][lab.chain]
    text, _, signature = entry["note"].partition("\n\n")
    origin, size, root = text.split("\n")[:3]
    if forgery == "size":
        entry["note"] = f"{origin}\n{int(size) - 2}\n{root}\n\n{signature}"
    elif forgery == "root":
        entry["note"] = f"{origin}\n{size}\n{base64.b64encode(bytes(32)).decode()}\n\n{signature}"
    elif forgery == "origin":  # another chain's genuine note moved onto this one
        entry["note"] = document["chains"]["platform"]["note"]
    elif forgery == "other-key":
        other = NoteSigner.from_seed(KEY_NAME, bytes(range(32)))
        entry["note"] = other.sign(text + "\n")
    else:
        entry["note"] = text + "\n\n"
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError):
        lab.platform.audit.verify()


def test_verify_with_a_pinned_public_key(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    pinned = NoteVerifier.parse(lab.platform.audit.public_key())
    assert lab.platform.audit.verify(pinned).ok
    stranger = NoteSigner.from_seed(KEY_NAME, bytes(32)).verifier
    with pytest.raises(CheckpointError, match="no signature"):
        lab.platform.audit.verify(stranger)


def test_inclusion_proof_of_a_real_event_verifies_against_the_signed_root(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    signed = signed_checkpoint(lab)
    with lab.platform.db.owner_engine.connect() as conn:
        event = next(r for r in chain_rows(conn, lab.chain) if r.action == "patient.read")
    proof = lab.platform.audit.inclusion_proof(lab.admin, lab.chain, event.chain_seq, signed.size)
    assert proof.leaf == event.entry_hash and proof.leaf_hash == leaf_hash(event.entry_hash)
    merkle.verify_inclusion(
        event.chain_seq - 1, signed.size, leaf_hash(event.entry_hash), proof.proof, signed.root
    )
    with pytest.raises(merkle.ProofError):  # the same proof does not fit a neighbour
        merkle.verify_inclusion(event.chain_seq - 2, signed.size, proof.leaf_hash, proof.proof, signed.root)


def test_consistency_proof_between_two_signed_checkpoints(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    first = signed_checkpoint(lab)
    touch(fresh_factory, lab.staff, 4)
    lab.platform.audit.checkpoint_heads()  # the server's periodic, cheap path
    second = signed_checkpoint(lab)
    assert second.size == first.size + 8
    proof = lab.platform.audit.consistency_proof(lab.admin, lab.chain, first.size, second.size)
    merkle.verify_consistency(first.size, second.size, proof.proof, first.root, second.root)
    assert lab.platform.audit.verify().ok


def test_proofs_are_for_audit_readers_of_the_chain_only(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    other = populated(fresh_factory)
    with pytest.raises(NotFound):
        lab.platform.audit.inclusion_proof(other.admin, lab.chain, 1, 1)
    with pytest.raises(Forbidden):
        lab.platform.audit.consistency_proof(lab.staff, lab.chain, 1, 2)
    assert {head.chain for head in lab.platform.audit.signed_heads(other.admin)} == {other.chain}


def test_audit_events_hold_no_personal_data(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    lab_ctx_data = fresh_factory.patient_data()
    with lab.platform.db.owner_engine.connect() as conn:
        dump = repr(conn.execute(select(EVENTS).where(EVENTS.c.chain == lab.chain)).all())
    assert lab_ctx_data.birth_name not in dump
    assert "patient.read" in dump and "patient.create" in dump


def test_empty_chains_verify_against_a_checkpoint(fresh_factory: Factory) -> None:
    platform = fresh_factory.platform
    platform.audit.checkpoint_heads()  # platform chain may be empty or not; new lab chain below is empty
    lab = fresh_factory.lab()
    platform.audit.checkpoint_heads()
    assert str(lab.id) in {r.chain for r in platform.audit.verify().reports}
    assert problems(platform) == []
