"""Shared helpers for the benchmarks: a throw-away platform, the plaintext baseline table, stats.

Everything is built under a fresh temporary directory (data and keys in separate sub-directories)
and, for PostgreSQL, in a database created for the run; both are removed at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform as host
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    insert,
)
from sqlalchemy.engine import make_url

from labvault.config import Settings
from labvault.demo.seed import cli_context, to_patient_data
from labvault.identity.accounts import context_for
from labvault.identity.patient_data import FIELD_NAMES, PatientData
from labvault.identity.synthetic import generate_finess, synthetic_patients
from labvault.platform import Platform, initialise, open_platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.engine import libpq_conninfo

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 1_000
PLAIN_TABLE = "bench_plain_patients"
BENCH_PASSWORD = "benchmark horse battery staple"

Progress = Callable[[str], None]

# Read budgets on, thresholds far above anything a benchmark reads: every check runs, none refuses.
RAISED_SOFT, RAISED_HARD = 500_000, 1_000_000
RAISED_BUDGETS: dict[str, Any] = {
    "read_budgets": True,
    **{
        f"read_budget{w}_soft": dict.fromkeys((r.value for r in Role), RAISED_SOFT)
        for w in ("", "_hour", "_day")
    },
    **{
        f"read_budget{w}_hard": dict.fromkeys((r.value for r in Role), RAISED_HARD)
        for w in ("", "_hour", "_day")
    },
    "read_rate_per_minute": RAISED_HARD,
    "lab_read_budget_soft": RAISED_SOFT,
    "lab_read_budget_hard": RAISED_HARD,
}


def alternate(number: int, encrypted: Callable[[], int], plain: Callable[[], int]) -> tuple[int, int]:
    """Time both paths, swapping which goes first on every other call so drift hits both alike.
    Each callable returns its own duration in ns; returns (encrypted, plain)."""
    if number % 2:
        first = encrypted()
        return first, plain()
    second = plain()
    return encrypted(), second


def log(message: str) -> None:
    """Progress goes to stderr so stdout keeps only the result tables."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


RESULTS_DIR = Path(__file__).parent / "results"


def write_results(result: dict[str, Any], name: str, backend: str, output: Path | None = None) -> None:
    """A standalone benchmark's figures as JSON: ``output``, else a timestamped file in
    ``benchmarks/results/`` (gitignored)."""
    path = output or RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{backend}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    log(f"results written to {path}")


# --- environment ------------------------------------------------------------------------------


@dataclass
class PgDatabase:
    """A database created for one benchmark run and dropped afterwards."""

    admin_url: str
    name: str

    @property
    def url(self) -> str:
        return str(make_url(self.admin_url).set(database=self.name).render_as_string(hide_password=False))

    def create(self) -> None:
        with psycopg.connect(libpq_conninfo(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(libpq_conninfo(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def server_version(self) -> str:
        with psycopg.connect(libpq_conninfo(self.admin_url)) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"


@dataclass
class BenchEnv:
    """An initialised platform plus one lab and a reception account acting in it."""

    platform: Platform
    root: Path
    ctx: AccessContext
    backend: str


@contextmanager
def bench_platform(backend: str, pg_admin_url: str = DEFAULT_PG_ADMIN_URL) -> Iterator[BenchEnv]:
    """A brand-new platform (keys, schema by migrations) with one lab; removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="labvault-bench-"))
    pg: PgDatabase | None = None
    built: Platform | None = None
    try:
        url = None
        if backend == "postgresql":
            pg = PgDatabase(pg_admin_url, f"labvault_bench_{uuid.uuid4().hex[:12]}")
            pg.create()
            url = pg.url
        # The production path: budgets, watch and (on PostgreSQL) row-level security on. One
        # reception account reads thousands of distinct patients in minutes: the thresholds are
        # raised far above that, so every check runs and none refuses.
        settings = Settings(data_dir=root / "data", key_dir=root / "keys", database_url=url, **RAISED_BUDGETS)
        initialise(settings)
        built = open_platform(settings)
        yield BenchEnv(built, root, new_lab_context(built, "BENCH1"), backend)
    finally:
        if built is not None:
            built.close()
        if pg is not None:
            pg.drop()
        shutil.rmtree(root, ignore_errors=True)


def new_lab_context(platform: Platform, code: str) -> AccessContext:
    """A lab and an individual reception account in it (reception may read and write patients)."""
    operator = cli_context()
    lab = platform.labs.create(operator, code, f"Laboratoire {code}", generate_finess_for(code))
    admin = platform.accounts.create_user(
        operator, f"bench.{code.lower()}.admin", BENCH_PASSWORD, Role.LAB_ADMIN, lab.id
    )  # the operator only creates a lab's first admin, who creates the staff
    account = platform.accounts.create_user(
        context_for(admin, Purpose.ADMINISTRATION, "benchmark"),
        f"bench.{code.lower()}",
        BENCH_PASSWORD,
        Role.RECEPTION,
        lab.id,
    )
    return context_for(account, Purpose.CARE, "benchmark")


def generate_finess_for(code: str) -> str:
    return generate_finess(random.Random(code))


# --- data ----------------------------------------------------------------------------------------


def generate_patients(count: int, seed: int, progress: Progress = log) -> list[PatientData]:
    """Pre-generate synthetic patients (unique NIRs) before anything is timed."""
    started = time.perf_counter()
    people = [to_patient_data(p) for p in synthetic_patients(count, seed)]
    progress(f"generated {count:,} synthetic patients in {time.perf_counter() - started:.1f} s")
    return people


def batches(items: Sequence[PatientData], size: int = BATCH) -> Iterator[Sequence[PatientData]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- plaintext baseline ----------------------------------------------------------------------------


def plain_table(metadata: MetaData) -> Table:
    """The patients table with every identity field as clear text, indexed like ``patients``
    (lab, lab+NIR, lab+INS, lab+name+birth date for both names) so the two differ only by
    encryption, blind indexes, validation and audit."""
    columns = [Column(name, Text, nullable=True) for name in FIELD_NAMES]
    return Table(
        PLAIN_TABLE,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("lab_id", Uuid, ForeignKey("labs.id"), nullable=False),
        *columns,
        Column("revision", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Index(f"ix_{PLAIN_TABLE}_lab_id", "lab_id"),
        Index(f"ix_{PLAIN_TABLE}_nir", "lab_id", "nir"),
        Index(f"ix_{PLAIN_TABLE}_ins", "lab_id", "ins"),
        Index(f"ix_{PLAIN_TABLE}_name_birth", "lab_id", "birth_name", "birth_date"),
        Index(f"ix_{PLAIN_TABLE}_used_name_birth", "lab_id", "used_name", "birth_date"),
    )


def create_plain_table(engine: Engine) -> Table:
    """Create the baseline table in the platform's own database (``labs`` is reflected for the FK)."""
    metadata = MetaData()
    Table("labs", metadata, Column("id", Uuid, primary_key=True))
    table = plain_table(metadata)
    table.create(engine)
    return table


def plain_row(data: PatientData, lab_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(data, name) for name in FIELD_NAMES}
    row["birth_date"] = data.birth_date.isoformat()
    row.update(id=uuid.uuid4(), lab_id=lab_id, revision=1, created_at=now, updated_at=now)
    return row


def plain_insert_batch(engine: Engine, table: Table, lab_id: uuid.UUID, items: Sequence[PatientData]) -> None:
    """Raw plaintext insert: one transaction, one Core executemany (what the baseline times)."""
    now = dt.datetime.now(dt.UTC)
    rows = [plain_row(data, lab_id, now) for data in items]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)


# --- statistics ------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds."""
    ordered = sorted(samples_ns)
    ms = 1e6
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50) / ms,
        "p95_ms": percentile(ordered, 95) / ms,
        "p99_ms": percentile(ordered, 99) / ms,
        "mean_ms": statistics.fmean(ordered) / ms,
        "max_ms": ordered[-1] / ms,
    }


# --- machine -------------------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent.parent,  # the checkout root: "-- src" means src/
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def machine_info(backend: str, pg_admin_url: str) -> dict[str, Any]:
    import cryptography
    import sqlalchemy

    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": host.python_implementation(),
        "os": host.platform(),
        "machine": host.machine(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "cryptography": cryptography.__version__,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "src_modified": bool(_git("status", "--porcelain", "--", "src")),
        "backend": backend,
    }
    if backend == "postgresql":
        info["postgresql"] = PgDatabase(pg_admin_url, "postgres").server_version()
    return info
