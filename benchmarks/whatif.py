"""What-if experiments: how much each part of the service path costs, by patching it in-process.

``python -m benchmarks.whatif [--backend sqlite]`` — NOT a benchmark of shipped behaviour. Each
variant monkeypatches one thing on a fresh platform (nothing in ``src/`` is edited) and re-times
``register_many`` (batches of 1,000) and ``find_by_nir``; the deltas say where the time goes and
what a change in ``src/`` would buy. Skipping validation or audit is for measurement only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from benchmarks.common import (
    BATCH,
    DEFAULT_PG_ADMIN_URL,
    BenchEnv,
    bench_platform,
    generate_patients,
    latency_summary,
    log,
)
from labvault.identity import patient_service
from labvault.identity.patient_data import PatientData
from labvault.security import audit
from labvault.store import engine as engine_module

Patch = Callable[[BenchEnv], Any]

PRELOAD = 20_000
TIMED_BATCHES = 20
LOOKUPS = 1_000
SINGLES = 300


@contextmanager
def _setattr(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


def null_pool(env: BenchEnv) -> Any:
    """SQLite with NullPool (the engine before commit 07159d5): a new connection per transaction,
    and closing it checkpoints and deletes the WAL (fdatasync x4 per transaction)."""
    db = env.platform.db
    engine = sa.create_engine(engine_module.normalise_url(db.app_url), poolclass=NullPool)
    engine_module._configure_sqlite(engine)
    db.engine.dispose()
    db.engine = engine
    db._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return None


def no_audit(_: BenchEnv) -> Any:
    """Measurement only: audit writes skipped, to size their share."""
    stack = ExitStack()
    stack.enter_context(_setattr(audit, "append_many", lambda *a, **k: None))
    stack.enter_context(_setattr(audit, "append", lambda *a, **k: None))
    return stack


def no_validation(_: BenchEnv) -> Any:
    """Measurement only: the synthetic data is already canonical, so validation can be skipped."""
    return _setattr(patient_service, "validate_patient", lambda data: data)


def core_insert(_: BenchEnv) -> Any:
    """Core ``insert(patients table)`` executemany instead of the ORM bulk ``insert(Patient)``."""
    return _setattr(patient_service, "insert", lambda entity: sa.insert(entity.__table__))


def custom_plans(env: BenchEnv) -> Any:
    """PostgreSQL: no server-side prepared statements (psycopg ``prepare_threshold=None``), so no
    generic plan is reused for the duplicate-NIR check; every execution gets a custom plan."""
    db = env.platform.db
    engine = sa.create_engine(
        engine_module.normalise_url(db.app_url), connect_args={"prepare_threshold": None}, pool_size=5
    )
    db.engine.dispose()
    db.engine = engine
    db._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return None


def analyze(env: BenchEnv) -> Any:
    """Run ANALYZE once after seeding, so the planner knows ix_patients_lab_id is not selective."""
    with env.platform.db.owner_engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return None


BOTH = ("sqlite", "postgresql")
VARIANTS: dict[str, tuple[Sequence[Patch], Sequence[str]]] = {
    "as shipped": ((), BOTH),
    "NullPool (engine before 07159d5)": ((null_pool,), ("sqlite",)),
    "no audit (measurement only)": ((no_audit,), BOTH),
    "no validation (measurement only)": ((no_validation,), BOTH),
    "Core insert instead of ORM bulk": ((core_insert,), BOTH),
    "ANALYZE after seeding": ((analyze,), BOTH),
    "no prepared statements (psycopg)": ((custom_plans,), ("postgresql",)),
}


def _run_variant(backend: str, pg_url: str, patches: Sequence[Patch], people: Sequence[PatientData]) -> dict:
    preload = people[:PRELOAD]
    extra, singles = people[PRELOAD:-SINGLES], people[-SINGLES:]
    with bench_platform(backend, pg_url) as env, ExitStack() as stack:
        service, ctx = env.platform.patients, env.ctx
        for start in range(0, PRELOAD, BATCH):
            service.register_many(ctx, preload[start : start + BATCH])
        for patch in patches:
            undo = patch(env)
            if undo is not None:
                stack.enter_context(undo)
        service.register_many(ctx, extra[:BATCH])  # warm-up after patching
        started = time.perf_counter_ns()
        for start in range(BATCH, len(extra), BATCH):
            service.register_many(ctx, extra[start : start + BATCH])
        elapsed = time.perf_counter_ns() - started
        samples: list[int] = []
        for data in preload[:LOOKUPS]:
            t0 = time.perf_counter_ns()
            service.find_by_nir(ctx, data.nir or "")
            samples.append(time.perf_counter_ns() - t0)
        one_by_one: list[int] = []
        for data in singles:
            t0 = time.perf_counter_ns()
            service.register(ctx, data, accept_homonym=True)
            one_by_one.append(time.perf_counter_ns() - t0)
    rows = len(extra) - BATCH
    return {
        "register_many_rows_per_s": rows / (elapsed / 1e9),
        "find_by_nir": latency_summary(samples),
        "register": latency_summary(one_by_one),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.whatif", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL)
    args = parser.parse_args(argv)
    people = generate_patients(PRELOAD + (TIMED_BATCHES + 1) * BATCH + SINGLES, 20_240_604)
    lines = [
        f"### What-if ({args.backend}; register_many {TIMED_BATCHES} x {BATCH:,} after {PRELOAD:,} "
        f"preloaded; {LOOKUPS:,} find_by_nir; {SINGLES} register one by one)",
        "",
        "| variant | register_many rows/s | find_by_nir p50 ms | p95 ms | register p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (patches, backends) in VARIANTS.items():
        if args.backend not in backends:
            continue
        result = _run_variant(args.backend, args.pg_url, patches, people)
        log(f"what-if {name}: {result['register_many_rows_per_s']:,.0f} rows/s")
        look, single = result["find_by_nir"], result["register"]
        lines.append(
            f"| {name} | {result['register_many_rows_per_s']:,.0f} | {look['p50_ms']:.3f} "
            f"| {look['p95_ms']:.3f} | {single['p50_ms']:.3f} | {single['p95_ms']:.3f} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
