"""HTTP benchmark of a FHIR search: one patient's Observations (20 signed results) through the real
``labvault serve`` under ``wrk``, authenticated and audited, against a bare FastAPI app answering
the same bytes, in the same run.

``python -m benchmarks.fhir_search [--quick] [--backend sqlite|postgresql|both]
[--connections 1,8] [--duration 10]``

``GET /fhir/Observation?subject=Patient/<id>&_count=20`` costs labvault the token check, the
order service's read of the patient's orders (lab scope, RLS on PostgreSQL, decryption of the 20
results, the restricted-test policy, one audit event naming the patient, read budgets on), then
the R4B models and the Bundle. The bare app (this module, ``--bare``) is uvicorn, FastAPI routing
and a sync route answering the captured bytes: bare reads/s over labvault's is what labvault's
own work costs per search. Every answer must be 2xx.

Markdown table on stdout, progress on stderr, JSON in ``benchmarks/results/`` (gitignored). Built
on benchmarks/api_reads.py's servers, wrk script and parsing.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.api_reads import (
    BenchmarkError,
    Server,
    WrkRun,
    biologist_token,
    brief,
    capture,
    ensure_wrk,
    free_port,
    lua_script,
    raised_settings,
    run_wrk,
    server_env,
    start,
    stop,
    wrk_version,
)
from benchmarks.common import (
    BENCH_PASSWORD,
    DEFAULT_PG_ADMIN_URL,
    PgDatabase,
    Progress,
    generate_finess_for,
    generate_patients,
    log,
    machine_info,
    write_results,
)
from labvault.catalog.model import Catalog, TestDefinition
from labvault.demo.seed import cli_context
from labvault.identity.accounts import context_for
from labvault.platform import Platform, initialise, open_platform
from labvault.security.access import Purpose, Role
from labvault.workflow.order_data import OrderRequest
from labvault.workflow.result_entry import ResultEntry

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")
RESULTS = 20  # the patient's signed results: one search answers them all
LAB_CODE = "BENCHFHIR"
BODY_ENV = "BENCH_FHIR_BARE_BODY"
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Config:
    backends: tuple[str, ...] = ("sqlite",)
    connections: tuple[int, ...] = (1, 8)
    duration: int = 10
    warmup: int = 2
    patients: int = 200  # the lab's other patients, so the search is not alone in its tables
    seed: int = 20_261_208
    pg_url: str = DEFAULT_PG_ADMIN_URL


FULL = Config()
QUICK = Config(connections=(1,), duration=3, warmup=1, patients=50)


@dataclass(frozen=True)
class Site:
    backend: str
    data_dir: Path
    key_dir: Path
    database_url: str | None
    token: str
    patient_id: uuid.UUID
    seed_s: float

    @property
    def path(self) -> str:
        return f"/fhir/Observation?subject=Patient/{self.patient_id}&_count={RESULTS}"


def numeric_tests(catalog: Catalog) -> list[TestDefinition]:
    """RESULTS plain numeric tests with an adult range: values in range need no critical call."""
    chosen = [
        t
        for t in catalog.tests
        if t.result_type == "numeric" and not t.calculated and not t.restricted and _adult_range(t)
    ]
    if len(chosen) < RESULTS:
        raise BenchmarkError(f"the catalogue has {len(chosen)} plain numeric tests, {RESULTS} needed")
    return chosen[:RESULTS]


def _adult_range(test: TestDefinition) -> tuple[float, float] | None:
    for band in test.reference_ranges:
        if band.age_max_days is None and band.low is not None and band.high is not None:
            return band.low, band.high
    return None


def seed(platform: Platform, config: Config, progress: Progress) -> tuple[str, uuid.UUID]:
    """One lab, its staff, ``config.patients`` patients; one of them with an order of RESULTS
    tests, received, entered, validated and signed. The biologist's token and that patient."""
    operator = cli_context()
    lab = platform.labs.create(operator, LAB_CODE, "Laboratoire FHIR", generate_finess_for(LAB_CODE))
    admin = platform.accounts.create_user(
        operator, "bench.fhir.admin", BENCH_PASSWORD, Role.LAB_ADMIN, lab.id
    )
    creator = context_for(admin, Purpose.ADMINISTRATION, "benchmark")
    roles = (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST)
    accounts = {
        role: platform.accounts.create_user(creator, f"bench.fhir.{role.value}", BENCH_PASSWORD, role, lab.id)
        for role in roles
    }
    reception, technician, biologist = (context_for(accounts[r], Purpose.CARE, "benchmark") for r in roles)
    people = generate_patients(config.patients, config.seed, progress)
    adults = [p for p in people if p.birth_date.year < 1990]
    ids = platform.patients.register_many(reception, people)
    patient_id = ids[people.index(adults[0])]
    tests = numeric_tests(platform.catalogs.active(lab.id))
    order = platform.orders.create(reception, OrderRequest(patient_id, tests=tuple(t.code for t in tests)))
    for specimen in order.specimens:
        platform.specimens.receive(reception, specimen.barcode)
    rng = random.Random(config.seed)
    entries = []
    for item in order.items:
        test = next(t for t in tests if t.code == item.test_code)
        low, high = _adult_range(test) or (0.0, 0.0)
        value = rng.uniform(low + (high - low) / 4, high - (high - low) / 4)
        entries.append(ResultEntry(item.id, f"{value:.{test.decimals or 0}f}"))
    platform.results.enter(technician, entries)
    item_ids = [item.id for item in order.items]
    platform.results.validate_technical(technician, item_ids)
    platform.results.validate_biological(biologist, item_ids)
    progress(f"{len(ids)} patients; one with {len(item_ids)} signed results")
    return biologist_token(platform, accounts[Role.BIOLOGIST]), patient_id


@contextmanager
def seeded_site(backend: str, config: Config, work: Path, progress: Progress) -> Iterator[Site]:
    pg: PgDatabase | None = None
    try:
        url = None
        if backend == "postgresql":
            pg = PgDatabase(config.pg_url, f"labvault_bench_{uuid.uuid4().hex[:12]}")
            pg.create()
            url = pg.url
        data_dir, key_dir = work / backend / "data", work / backend / "keys"
        settings = raised_settings(data_dir, key_dir, url)
        started = time.perf_counter()
        initialise(settings)
        platform = open_platform(settings)
        try:
            token, patient_id = seed(platform, config, progress)
        finally:
            platform.close()
        seed_s = time.perf_counter() - started
        progress(f"{backend}: platform seeded in {seed_s:.1f} s")
        yield Site(backend, data_dir, key_dir, url, token, patient_id, seed_s)
    finally:
        if pg is not None:
            pg.drop()


def labvault_command(site: Site, port: int) -> list[str]:
    command = [sys.executable, "-m", "labvault.cli", "serve", "--data-dir", str(site.data_dir)]
    command += ["--key-dir", str(site.key_dir), "--host", "127.0.0.1", "--port", str(port)]
    return command + (["--database-url", site.database_url] if site.database_url else [])


@contextmanager
def servers(site: Site, work: Path, progress: Progress) -> Iterator[tuple[Server, Server]]:
    """labvault, then the bare app answering the very bytes labvault answered to the search."""
    here = work / site.backend
    env = server_env()
    port = free_port()
    labvault = start("labvault", labvault_command(site, port), port, env, here / "labvault.log")
    bare: Server | None = None
    try:
        body = capture(labvault, site.path, site.token)
        if body.count(b'"resourceType":"Observation"') != RESULTS:
            raise BenchmarkError(f"the search did not answer {RESULTS} Observations")
        (here / "body.json").write_bytes(body)
        env |= {BODY_ENV: str(here / "body.json"), "PYTHONPATH": str(ROOT)}
        port = free_port()
        command = [sys.executable, "-m", "benchmarks.fhir_search", "--bare", "--port", str(port)]
        bare = start("bare app", command, port, env, here / "bare.log")
        if capture(bare, site.path, site.token) != body:
            raise BenchmarkError("the bare app does not answer labvault's bytes")
        progress(
            f"{site.backend}: labvault on :{labvault.port}, bare app on :{bare.port}; body {len(body)} B"
        )
        yield labvault, bare
    finally:
        if bare is not None:
            stop(bare)
        stop(labvault)


def measure(
    site: Site, pair: tuple[Server, Server], wrk: str, config: Config, progress: Progress
) -> list[dict[str, Any]]:
    script = lua_script(pair[0].log.parent, "observations", [site.path], site.token)
    for server in pair:
        run_wrk(wrk, server, script, max(config.connections), config.warmup)
    rows = []
    for position, connections in enumerate(config.connections):
        order = pair if position % 2 == 0 else pair[::-1]  # drift hits both alike
        runs: dict[str, WrkRun] = {
            s.name: run_wrk(wrk, s, script, connections, config.duration) for s in order
        }
        labvault, bare = runs["labvault"], runs["bare app"]
        progress(f"{site.backend} c{connections}: labvault {brief(labvault)}, bare {brief(bare)}")
        rows.append(
            {
                "backend": site.backend,
                "connections": connections,
                "searches_per_s": labvault.reads_per_s,
                "p50_ms": labvault.p50_ms,
                "p99_ms": labvault.p99_ms,
                "bare_searches_per_s": bare.reads_per_s,
                "ratio_bare_labvault": bare.reads_per_s / labvault.reads_per_s,
                "labvault": vars(labvault),
                "bare": vars(bare),
            }
        )
    return rows


def run(config: Config, progress: Progress = log) -> dict[str, Any]:
    """Every backend and connection count; the figures as a JSON-ready document."""
    wrk = ensure_wrk(progress)
    rows: list[dict[str, Any]] = []
    setups: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="labvault-bench-fhir-"))
    try:
        for backend in config.backends:
            with seeded_site(backend, config, work, progress) as site:
                setups[backend] = {"patients": config.patients, "results": RESULTS, "seed_s": site.seed_s}
                with servers(site, work, progress) as pair:
                    rows += measure(site, pair, wrk, config, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "fhir_search",
        "config": {
            **vars(config),
            "backends": list(config.backends),
            "connections": list(config.connections),
        },
        "machine": machine_info(config.backends[0], config.pg_url),
        "wrk": wrk_version(wrk),
        "setup": setups,
        "rows": rows,
    }


def markdown(document: dict[str, Any]) -> str:
    lines = [
        f"FHIR Observation search, {RESULTS} results of one patient "
        f"(`GET /fhir/Observation?subject=Patient/<id>&_count={RESULTS}`)",
        "",
        "| backend | connections | labvault searches/s | p50 ms | p99 ms | bare searches/s | bare/labvault |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in document["rows"]:
        lines.append(
            f"| {row['backend']} | {row['connections']} | {row['searches_per_s']:,.0f} | {row['p50_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {row['bare_searches_per_s']:,.0f} | {row['ratio_bare_labvault']:.1f}x |"
        )
    return "\n".join(lines)


# --- the bare app ------------------------------------------------------------------------------------


def bare_app() -> Any:
    """The floor: a sync route answering the captured search body, no token, database or audit."""
    from fastapi import FastAPI, Response

    body = Path(os.environ[BODY_ENV]).read_bytes()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/fhir/Observation")
    def observations(subject: str, _count: int = 20) -> Response:
        return Response(body, media_type=FHIR_JSON)

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(
        "benchmarks.fhir_search:bare_app",
        host="127.0.0.1",
        port=port,
        factory=True,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one connection count, 3 s runs, a smaller lab")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="sqlite")
    parser.add_argument("--connections", help="comma-separated, e.g. 1,8")
    parser.add_argument("--duration", type=int, help="seconds per timed run")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bare:
        serve_bare(args.port)
        return 0
    config = QUICK if args.quick else FULL
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    config = replace(config, backends=backends, pg_url=args.pg_url)
    if args.connections:
        config = replace(config, connections=tuple(int(n) for n in args.connections.split(",")))
    if args.duration:
        config = replace(config, duration=args.duration)
    try:
        document = run(config)
    except BenchmarkError as error:
        log(f"benchmark failed: {error}")
        return 1
    print(markdown(document))
    write_results(document, "fhir_search", "-".join(config.backends), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
