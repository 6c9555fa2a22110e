"""Lookup by NIR through the service (blind index + decryption + audit write + commit) as one lab
grows, vs a plain indexed SELECT by NIR on the plaintext table of the same size, same engine.

The database is grown in place (seed to the first size, measure, grow to the next, ...) with
``register_many`` in batches of 1,000; the plaintext table receives the same rows.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select

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
from labvault.identity.patient_data import PatientData

GOAL_P95_MS = 2.0
GOAL_GROWTH = 1.5
GOAL_SIZE = 500_000
GOAL_BASE_SIZE = 10_000
GOAL_BACKEND = "sqlite"


@dataclass(frozen=True)
class LookupConfig:
    sizes: tuple[int, ...] = (10_000, 100_000, 500_000)
    lookups: int = 2_000
    warmup: int = 200
    batch: int = BATCH
    seed: int = 20_240_602


def _grow(
    env: BenchEnv, table: Table, people: Sequence[PatientData], start: int, stop: int, progress: Progress
) -> dict[str, float]:
    """Load people[start:stop] on both paths (seeding is reported, not a goal)."""
    assert env.ctx.lab_id is not None
    lab_id = env.ctx.lab_id
    enc_ns = plain_ns = 0
    step = max(stop // 10, BATCH)
    for offset in range(start, stop, BATCH):
        chunk = people[offset : min(offset + BATCH, stop)]
        t0 = time.perf_counter_ns()
        env.platform.patients.register_many(env.ctx, chunk)
        t1 = time.perf_counter_ns()
        plain_insert_batch(env.platform.db.owner_engine, table, lab_id, chunk)
        t2 = time.perf_counter_ns()
        enc_ns += t1 - t0
        plain_ns += t2 - t1
        done = offset + len(chunk)
        if done % step < BATCH or done == stop:
            progress(f"lookup seeding: {done:,}/{stop:,} patients")
    rows = stop - start
    return {
        "rows": rows,
        "encrypted_rows_per_s": rows / (enc_ns / 1e9) if enc_ns else 0.0,
        "plain_rows_per_s": rows / (plain_ns / 1e9) if plain_ns else 0.0,
    }


def _service_lookup(env: BenchEnv, nir: str) -> int:
    started = time.perf_counter_ns()
    found = env.platform.patients.find_by_nir(env.ctx, nir)
    elapsed = time.perf_counter_ns() - started
    if len(found) != 1 or found[0].data.nir != nir:
        raise AssertionError(f"find_by_nir returned {len(found)} records for an existing NIR")
    return elapsed


def _plain_lookup(env: BenchEnv, table: Table, lab_id: uuid.UUID, nir: str) -> int:
    query = select(table).where(table.c.lab_id == lab_id, table.c.nir == nir)
    started = time.perf_counter_ns()
    with env.platform.db.owner_engine.begin() as conn:
        rows = conn.execute(query).all()
    elapsed = time.perf_counter_ns() - started
    if len(rows) != 1:
        raise AssertionError(f"plain lookup returned {len(rows)} rows for an existing NIR")
    return elapsed


def _empty_transaction(env: BenchEnv) -> int:
    """The floor of any transaction on this engine: connect (NullPool on SQLite), BEGIN, COMMIT."""
    started = time.perf_counter_ns()
    with env.platform.db.engine.begin():
        pass
    return time.perf_counter_ns() - started


def _measure(env: BenchEnv, table: Table, nirs: Sequence[str], warmup: Sequence[str]) -> dict[str, Any]:
    """Time every lookup on both paths, alternating which path goes first."""
    assert env.ctx.lab_id is not None
    lab_id = env.ctx.lab_id
    for nir in warmup:
        _service_lookup(env, nir)
        _plain_lookup(env, table, lab_id, nir)
    enc_ns: list[int] = []
    plain_ns: list[int] = []
    empty_ns: list[int] = []
    for number, nir in enumerate(nirs):
        enc, plain_time = alternate(
            number,
            lambda nir=nir: _service_lookup(env, nir),
            lambda nir=nir: _plain_lookup(env, table, lab_id, nir),
        )
        enc_ns.append(enc)
        plain_ns.append(plain_time)
        empty_ns.append(_empty_transaction(env))
    enc, plain = latency_summary(enc_ns), latency_summary(plain_ns)
    return {
        "encrypted": enc,
        "plain": plain,
        "empty_transaction": latency_summary(empty_ns),
        "ratio_p95": enc["p95_ms"] / plain["p95_ms"],
    }


def _goal(backend: str, sizes: Sequence[int], per_size: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first, last = per_size[0]["encrypted"]["p95_ms"], per_size[-1]["encrypted"]["p95_ms"]
    growth = last / first
    return {
        "text": f"p95 under {GOAL_P95_MS:g} ms in-process at {GOAL_SIZE:,} patients, growing less than "
        f"{GOAL_GROWTH:g}x from {GOAL_BASE_SIZE:,} to {GOAL_SIZE:,}",
        "applies": backend == GOAL_BACKEND and sizes[0] == GOAL_BASE_SIZE and sizes[-1] == GOAL_SIZE,
        "p95_last_ms": last,
        "growth_p95": growth,
        "p95_met": last < GOAL_P95_MS,
        "growth_met": growth < GOAL_GROWTH,
    }


def run(backend: str, config: LookupConfig, pg_admin_url: str, progress: Progress = log) -> dict[str, Any]:
    sizes = sorted(config.sizes)
    people = generate_patients(sizes[-1], config.seed, progress)
    rng = random.Random(config.seed)
    per_size: list[dict[str, Any]] = []
    with bench_platform(backend, pg_admin_url) as env:
        table = create_plain_table(env.platform.db.owner_engine)
        loaded = 0
        for size in sizes:
            seeding = _grow(env, table, people, loaded, size, progress)
            loaded = size
            picks = rng.sample(range(size), min(size, config.lookups + config.warmup))
            nirs = [people[i].nir or "" for i in picks]
            progress(f"lookup: measuring {config.lookups:,} lookups at {size:,} patients")
            measured = _measure(env, table, nirs[config.warmup :], nirs[: config.warmup])
            measured.update(size=size, seeding=seeding)
            per_size.append(measured)
            progress(
                f"lookup at {size:,}: service p95 {measured['encrypted']['p95_ms']:.3f} ms, "
                f"plain p95 {measured['plain']['p95_ms']:.3f} ms"
            )
    return {
        "backend": backend,
        "lookups": config.lookups,
        "warmup": config.warmup,
        "sizes": per_size,
        "goal": _goal(backend, sizes, per_size),
    }
