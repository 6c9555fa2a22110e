"""Patient registration throughput: the service path vs plaintext raw inserts, same run, same engine.

(a) ``PatientService.register_many`` in batches of 1,000: validation, AES-GCM per field, blind
    indexes, one ORM bulk insert and the chained audit events, one transaction per batch.
(b) ``PatientService.register`` one by one (duplicate checks, insert, audit; one transaction each).
Baseline: the same pre-generated rows as clear text into ``bench_plain_patients`` (same indexes)
with a Core ``executemany`` per batch of 1,000, one transaction per batch; and single-row inserts
in one transaction each for (b). Batches of the two paths alternate so drift hits both alike.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table

from benchmarks.common import (
    BATCH,
    BenchEnv,
    Progress,
    alternate,
    bench_platform,
    create_plain_table,
    generate_patients,
    latency_summary,
    log,
    plain_insert_batch,
)
from labvault.identity import patient_codec as codec
from labvault.identity.patient_data import PatientData, validate_patient
from labvault.security.audit_chain import GENESIS, ChainEntry, entry_hash

GOAL_RATIO = 3.0
GOAL_SIZE = 100_000
GOAL_BACKEND = "sqlite"
SINGLE_WARMUP = 20
COMPONENT_SAMPLE = 5_000


@dataclass(frozen=True)
class RegistrationConfig:
    size: int = 100_000
    single: int = 2_000
    batch: int = BATCH
    seed: int = 20_240_601


def _timed(action: Callable[[], Any]) -> int:
    started = time.perf_counter_ns()
    action()
    return time.perf_counter_ns() - started


def _bulk(env: BenchEnv, table: Table, items: Sequence[PatientData], batch: int, progress: Progress) -> dict:
    """Alternate encrypted and plaintext batches (alternating which goes first)."""
    platform, ctx = env.platform, env.ctx
    assert ctx.lab_id is not None
    lab_id = ctx.lab_id
    enc_ns: list[int] = []
    plain_ns: list[int] = []
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    for number, chunk in enumerate(chunks, 1):

        def encrypted(c: Sequence[PatientData] = chunk) -> None:
            platform.patients.register_many(ctx, c)

        def plain(c: Sequence[PatientData] = chunk) -> None:
            plain_insert_batch(platform.db.owner_engine, table, lab_id, c)

        enc, plain_time = alternate(number, lambda: _timed(encrypted), lambda: _timed(plain))
        enc_ns.append(enc)
        plain_ns.append(plain_time)
        if number % 10 == 0 or number == len(chunks):
            done = min(number * batch, len(items))
            progress(
                f"registration bulk: {done:,}/{len(items):,} "
                f"(encrypted {done / (sum(enc_ns) / 1e9):,.0f} rows/s, "
                f"plain {done / (sum(plain_ns) / 1e9):,.0f} rows/s)"
            )
    enc_s, plain_s = sum(enc_ns) / 1e9, sum(plain_ns) / 1e9
    return {
        "rows": len(items),
        "batch": batch,
        "encrypted_s": enc_s,
        "plain_s": plain_s,
        "encrypted_rows_per_s": len(items) / enc_s,
        "plain_rows_per_s": len(items) / plain_s,
        "ratio": enc_s / plain_s,
        "encrypted_batch": latency_summary(enc_ns),
        "plain_batch": latency_summary(plain_ns),
    }


def _single(env: BenchEnv, table: Table, items: Sequence[PatientData], progress: Progress) -> dict:
    """One patient per transaction, both paths, alternating."""
    platform, ctx = env.platform, env.ctx
    assert ctx.lab_id is not None
    lab_id = ctx.lab_id
    for data in items[:SINGLE_WARMUP]:
        platform.patients.register(ctx, data, accept_homonym=True)
        plain_insert_batch(platform.db.owner_engine, table, lab_id, [data])
    enc_ns: list[int] = []
    plain_ns: list[int] = []
    for number, data in enumerate(items[SINGLE_WARMUP:], 1):

        def encrypted(d: PatientData = data) -> None:
            # A reception desk confirms homonyms; the duplicate checks still run in full.
            platform.patients.register(ctx, d, accept_homonym=True)

        def plain(d: PatientData = data) -> None:
            plain_insert_batch(platform.db.owner_engine, table, lab_id, [d])

        enc, plain_time = alternate(number, lambda: _timed(encrypted), lambda: _timed(plain))
        enc_ns.append(enc)
        plain_ns.append(plain_time)
    progress(f"registration one by one: {len(enc_ns):,} patients")
    enc, plain_summary = latency_summary(enc_ns), latency_summary(plain_ns)
    return {
        "rows": len(enc_ns),
        "encrypted": enc,
        "plain": plain_summary,
        "encrypted_rows_per_s": len(enc_ns) / (sum(enc_ns) / 1e9),
        "plain_rows_per_s": len(plain_ns) / (sum(plain_ns) / 1e9),
        "ratio_mean": enc["mean_ms"] / plain_summary["mean_ms"],
    }


def _per_item_us(action: Callable[[Any], Any], items: Sequence[Any]) -> float:
    started = time.perf_counter_ns()
    for item in items:
        action(item)
    return (time.perf_counter_ns() - started) / len(items) / 1e3


def _components(env: BenchEnv, items: Sequence[PatientData]) -> dict[str, float]:
    """CPU cost per patient of the pure-Python steps of register_many, outside any transaction."""
    platform, ctx = env.platform, env.ctx
    assert ctx.lab_id is not None
    lab_id = ctx.lab_id
    with platform.db.transaction(lab_id) as session:
        keys = platform.keys.keyset(session, lab_id)
    validated = [validate_patient(item) for item in items]
    now = dt.datetime.now(dt.UTC)

    def audit_hash(_: object) -> bytes:
        entry = ChainEntry(
            chain=str(lab_id),
            chain_seq=1,
            at=now,
            lab_id=lab_id,
            actor_id=ctx.actor_id,
            actor_label=ctx.actor_label,
            role=ctx.role.value,
            action="patient.create",
            object_type="patient",
            object_id=str(uuid.uuid4()),
            purpose=ctx.purpose.value,
            origin=ctx.origin,
            detail={"bulk": True},
        )
        return entry_hash(GENESIS, entry)

    return {
        "validate_patient_us": _per_item_us(validate_patient, items),
        "encrypted_columns_us": _per_item_us(
            lambda d: codec.encrypted_columns(keys, uuid.uuid4(), d), validated
        ),
        "nir_blind_index_us": _per_item_us(lambda d: codec.nir_index(keys, d.nir), validated),
        "audit_entry_hash_us": _per_item_us(audit_hash, validated),
    }


def run(
    backend: str, config: RegistrationConfig, pg_admin_url: str, progress: Progress = log
) -> dict[str, Any]:
    warmup = min(config.batch, config.size)
    people = generate_patients(warmup + config.size + config.single + SINGLE_WARMUP, config.seed, progress)
    warm, bulk = people[:warmup], people[warmup : warmup + config.size]
    single = people[warmup + config.size :]
    with bench_platform(backend, pg_admin_url) as env:
        assert env.ctx.lab_id is not None
        table = create_plain_table(env.platform.db.owner_engine)
        env.platform.patients.register_many(env.ctx, warm)
        plain_insert_batch(env.platform.db.owner_engine, table, env.ctx.lab_id, warm)
        progress(f"registration: warm-up batch of {warmup:,} done (untimed)")
        bulk_result = _bulk(env, table, bulk, config.batch, progress)
        single_result = _single(env, table, single, progress)
        components = _components(env, bulk[:COMPONENT_SAMPLE])
    goal_applies = config.size == GOAL_SIZE and backend == GOAL_BACKEND
    return {
        "backend": backend,
        "size": config.size,
        "preloaded_rows": warmup,
        "bulk": bulk_result,
        "single": single_result,
        "components_per_patient": components,
        "goal": {
            "text": f"encrypted path within {GOAL_RATIO:g}x of plaintext raw inserts "
            f"at {GOAL_SIZE:,} patients on SQLite",
            "applies": goal_applies,
            "met": bulk_result["ratio"] <= GOAL_RATIO,
        },
    }
