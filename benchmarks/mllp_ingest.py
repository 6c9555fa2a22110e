"""HL7 v2 ingestion benchmark: the real ``labvault mllp`` fed ORU^R01 messages over MLLP, against a
bare MLLP server that stores each raw message in a plain table (benchmarks/bare_mllp.py), in the
same run, from the same senders, with the same messages.

``python -m benchmarks.mllp_ingest [--quick] [--backend sqlite|postgresql|both] [--messages 300]
[--connections 1,8] [--warmup 20]``

Per backend: a throw-away platform (temporary data and key directories; on PostgreSQL a database
created for the run and dropped after), one lab, its reception and an interface account
(Role.INTERFACE, created by the lab admin), synthetic patients (Faker fr_FR) each with one order of
ten blood-count tests on one EDTA tube, the tube received. Each message is an ORU^R01 with ten OBX
for one tube (PID-3 names the patient by labvault's id, SPM-2 the tube; a unique MSH-10 each).

Per connection count C: C threads, each with its own ``hl7.client.MLLPClient``, send their share of
the messages one after the other, waiting for each acknowledgement before the next, as an
original-mode HL7 sender does; every acknowledgement must be ``MSA|AA|<its control id>``, anything
else fails the run. Measured: messages/s and results/s (10 per message) over the wall time from
the first send to the last ACK, and p50/p99 per-message latency (send to ACK). Each connection
count gets fresh tubes (a tube takes its results once); labvault and the bare server get the same
messages, the one measured first alternating row by row. At the end, labvault's database must hold
exactly ten results per acknowledged message, the bare table one row per message.

Markdown table on stdout, progress on stderr, JSON in ``benchmarks/results/`` (gitignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from hl7.client import MLLPClient
from sqlalchemy import func, select

from benchmarks.api_reads import (
    STARTUP_TIMEOUT_S,
    BenchmarkError,
    Server,
    counts,
    raised_settings,
    server_env,
    stop,
)
from benchmarks.bare_mllp import END_BLOCK, START_BLOCK, TABLE
from benchmarks.common import (
    BENCH_PASSWORD,
    DEFAULT_PG_ADMIN_URL,
    PgDatabase,
    Progress,
    generate_finess_for,
    generate_patients,
    latency_summary,
    log,
    machine_info,
    write_results,
)
from labvault.demo.seed import cli_context
from labvault.identity.accounts import context_for
from labvault.platform import Platform, initialise, open_platform
from labvault.security.access import Purpose, Role
from labvault.store.engine import libpq_conninfo
from labvault.workflow.models import Result
from labvault.workflow.order_data import OrderRequest

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")
LAB_CODE = "BENCHMLLP"
INTERFACE = "bench.mllp.analyser"
RESULTS_PER_MESSAGE = 10
ACK_TIMEOUT_S = 120.0
READY = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
# Ten tests of one EDTA tube (catalog-v1.json): code, LOINC, unit, name, decimals.
TESTS: tuple[tuple[str, str, str, str, int], ...] = (
    ("HGB", "718-7", "g/dL", "Hemoglobin", 1),
    ("HCT", "4544-3", "%", "Hematocrit", 1),
    ("RBC", "789-8", "10*12/L", "Erythrocytes", 2),
    ("MCV", "787-2", "fL", "MCV", 0),
    ("MCH", "785-6", "pg", "MCH", 1),
    ("MCHC", "786-4", "g/dL", "MCHC", 1),
    ("WBC", "6690-2", "10*9/L", "Leukocytes", 2),
    ("NEUT", "751-8", "10*9/L", "Neutrophils", 2),
    ("LYMPH", "731-0", "10*9/L", "Lymphocytes", 2),
    ("PLT", "777-3", "10*9/L", "Platelets", 0),
)
assert len(TESTS) == RESULTS_PER_MESSAGE


@dataclass(frozen=True)
class Config:
    backends: tuple[str, ...] = ("sqlite",)
    connections: tuple[int, ...] = (1, 8)
    messages: int = 300  # timed messages per connection count
    warmup: int = 20  # untimed messages per server before the timed runs
    seed: int = 20_261_207
    pg_url: str = DEFAULT_PG_ADMIN_URL


FULL = Config()
# Seconds, not minutes: SQLite, a few messages per connection count.
QUICK = Config(messages=24, warmup=4)


# --- the platform and the messages ----------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A seeded platform (closed: only the listener holds it) and the messages for its tubes."""

    backend: str
    data_dir: Path
    key_dir: Path
    database_url: str | None
    work: Path
    warmup: tuple[tuple[str, bytes], ...]  # (control id, message)
    timed: tuple[tuple[tuple[str, bytes], ...], ...]  # per connection count
    seed_s: float

    @property
    def messages(self) -> int:
        return len(self.warmup) + sum(len(batch) for batch in self.timed)


@contextmanager
def seeded_site(backend: str, config: Config, work: Path, progress: Progress) -> Iterator[Site]:
    """A new platform under ``work`` (on PostgreSQL in a database of its own, dropped on exit)."""
    pg: PgDatabase | None = None
    try:
        url = None
        if backend == "postgresql":
            pg = PgDatabase(config.pg_url, f"labvault_bench_{uuid.uuid4().hex[:12]}")
            pg.create()
            url = pg.url
        here = work / backend
        data_dir, key_dir = here / "data", here / "keys"
        started = time.perf_counter()
        settings = raised_settings(data_dir, key_dir, url)
        initialise(settings)
        platform = open_platform(settings)
        try:
            tubes = seed_lab(platform, config, len(config.connections), progress)
        finally:
            platform.close()
        seed_s = time.perf_counter() - started
        rng = random.Random(config.seed)
        run_tag = uuid.uuid4().hex[:6].upper()
        messages = [
            (control, oru(control, barcode, patient_id, rng))
            for n, (barcode, patient_id) in enumerate(tubes)
            for control in [f"B{run_tag}{n:06d}"]
        ]
        warmup, rest = messages[: config.warmup], messages[config.warmup :]
        timed = tuple(
            tuple(rest[i * config.messages : (i + 1) * config.messages])
            for i in range(len(config.connections))
        )
        progress(f"{backend}: platform seeded with {len(tubes)} received tubes in {seed_s:.1f} s")
        yield Site(backend, data_dir, key_dir, url, here, tuple(warmup), timed, seed_s)
    finally:
        if pg is not None:
            pg.drop()


def seed_lab(
    platform: Platform, config: Config, levels: int, progress: Progress
) -> list[tuple[str, uuid.UUID]]:
    """One lab, its admin, a receptionist and the interface account; one order of the ten tests per
    synthetic patient, its tube received. The (barcode, patient id) of each tube."""
    operator = cli_context()
    lab = platform.labs.create(operator, LAB_CODE, "Laboratoire du banc HL7", generate_finess_for(LAB_CODE))
    admin = platform.accounts.create_user(
        operator, "bench.mllp.admin", BENCH_PASSWORD, Role.LAB_ADMIN, lab.id
    )
    creator = context_for(admin, Purpose.ADMINISTRATION, "benchmark")
    reception_account = platform.accounts.create_user(
        creator, "bench.mllp.reception", BENCH_PASSWORD, Role.RECEPTION, lab.id
    )
    platform.accounts.create_user(creator, INTERFACE, BENCH_PASSWORD, Role.INTERFACE, lab.id)
    reception = context_for(reception_account, Purpose.CARE, "benchmark")
    count = config.warmup + levels * config.messages
    people = generate_patients(count, config.seed, progress)
    ids = platform.patients.register_many(reception, people)
    tests = tuple(code for code, *_ in TESTS)
    tubes: list[tuple[str, uuid.UUID]] = []
    started = time.perf_counter()
    for n, patient_id in enumerate(ids):
        order = platform.orders.create(reception, OrderRequest(patient_id=patient_id, tests=tests))
        if len(order.specimens) != 1:
            raise BenchmarkError(f"the ten tests should share one tube, got {len(order.specimens)}")
        barcode = order.specimens[0].barcode
        platform.specimens.receive(reception, barcode)
        tubes.append((barcode, patient_id))
        if (n + 1) % 200 == 0:
            progress(f"{n + 1}/{count} orders taken, tubes received ({time.perf_counter() - started:.0f} s)")
    return tubes


def blood_count(rng: random.Random) -> dict[str, float]:
    """A plausible adult blood count, its indices coherent with HGB, HCT and RBC."""
    hgb = rng.uniform(11.5, 16.5)
    hct = hgb * rng.uniform(2.85, 3.1)
    rbc = rng.uniform(4.0, 5.6)
    wbc = rng.uniform(4.0, 10.0)
    neut = wbc * rng.uniform(0.45, 0.7)
    return {
        "HGB": hgb,
        "HCT": hct,
        "RBC": rbc,
        "MCV": hct / rbc * 10,
        "MCH": hgb / rbc * 10,
        "MCHC": hgb / hct * 100,
        "WBC": wbc,
        "NEUT": neut,
        "LYMPH": (wbc - neut) * rng.uniform(0.7, 0.9),
        "PLT": rng.uniform(160, 380),
    }


def oru(control: str, barcode: str, patient_id: uuid.UUID, rng: random.Random) -> bytes:
    """An analyser's ORU^R01 (HL7 2.5.1) for one tube: ten OBX, final."""
    values = blood_count(rng)
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    segments = [
        f"MSH|^~\\&|XN|BENCH|LABVAULT|{LAB_CODE}|{stamp}||ORU^R01^ORU_R01|{control}|P|2.5.1",
        f"PID|1||{patient_id}^^^LABVAULT^PI",
        f"OBR|1||{barcode}|58410-2^CBC panel^LN|||{stamp}",
    ]
    for seq, (code, loinc, unit, name, decimals) in enumerate(TESTS, start=1):
        value = f"{values[code]:.{decimals}f}"
        segments.append(f"OBX|{seq}|NM|{loinc}^{name}^LN||{value}|{unit}|||||F|||{stamp}")
    segments.append(f"SPM|1|^{barcode}||BLDV^Venous blood^HL70487")
    return ("\r".join(segments) + "\r").encode()


# --- the servers ----------------------------------------------------------------------------------


def start(name: str, command: list[str], env: dict[str, str], log_path: Path) -> Server:
    """Start a server in its own session, output to ``log_path``; wait for its "listening on" line."""
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
        )
    server = Server(name, process, 0, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            found = READY.search(log_path.read_text(errors="replace"))
            if found:
                server.port = int(found[1])
                return server
            if process.poll() is not None:
                raise BenchmarkError(
                    f"{name} exited with {process.returncode} before listening:\n{server.tail()}"
                )
            time.sleep(0.1)
        raise BenchmarkError(f"{name} did not listen within {STARTUP_TIMEOUT_S:.0f} s:\n{server.tail()}")
    except BaseException:
        stop(server)
        raise


def labvault_command(site: Site) -> list[str]:
    command = [sys.executable, "-m", "labvault.cli", "mllp", "--account", INTERFACE, "--port", "0"]
    command += ["--data-dir", str(site.data_dir), "--key-dir", str(site.key_dir)]
    if site.database_url:
        command += ["--database-url", site.database_url]
    return command


def bare_command(site: Site) -> list[str]:
    command = [sys.executable, "-m", "benchmarks.bare_mllp", "--port", "0"]
    if site.database_url:
        return [*command, "--conninfo", libpq_conninfo(site.database_url)]
    return [*command, "--sqlite", str(site.work / "bare.sqlite3")]


def log_problems(server: Server) -> list[str]:
    """The lines of a server's log that say something went wrong (none expected)."""
    if not server.log.exists():
        return []
    lines = server.log.read_text(errors="replace").splitlines()
    return [line for line in lines if re.search(r"\b(ERROR|WARNING|CRITICAL)\b|Traceback", line)]


@contextmanager
def servers(site: Site, progress: Progress) -> Iterator[tuple[Server, Server]]:
    env = server_env({"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    labvault = start("labvault", labvault_command(site), env, site.work / "labvault-mllp.log")
    try:
        bare = start("bare", bare_command(site), env, site.work / "bare-mllp.log")
        try:
            progress(f"{site.backend}: labvault mllp on :{labvault.port}, bare MLLP server on :{bare.port}")
            yield labvault, bare
        finally:
            stop(bare)
    finally:
        stop(labvault)


# --- the senders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    messages: int
    connections: int
    wall_s: float
    messages_per_s: float
    results_per_s: float
    latency: dict[str, float]  # per message, send to ACK (ms)
    cpu_ms_per_message: float | None  # the server process's CPU (user + system, all threads)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process, all its threads (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exchange(client: MLLPClient, message: bytes) -> bytes:
    """Send one framed message and read its whole acknowledgement (MLLPClient.send reads one
    ``recv``, which may hold part of a frame)."""
    client.socket.sendall(START_BLOCK + message + END_BLOCK)
    buffer = b""
    while END_BLOCK not in buffer:
        chunk = client.socket.recv(4096)
        if not chunk:
            raise BenchmarkError(f"the connection was closed before the ACK ({len(buffer)} bytes read)")
        buffer += chunk
    return buffer


def send_all(server: Server, messages: Sequence[tuple[str, bytes]], connections: int) -> Run:
    """``connections`` threads, each with its own client, send their share in order, each waiting
    for its ACK; every ACK must accept its message."""
    shares = [messages[i::connections] for i in range(connections)]
    latencies: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(connections + 1)

    def sender(share: Sequence[tuple[str, bytes]]) -> None:
        mine: list[int] = []
        try:
            with MLLPClient("127.0.0.1", server.port) as client:
                client.socket.settimeout(ACK_TIMEOUT_S)
                gate.wait()
                for control, message in share:
                    started = time.perf_counter_ns()
                    ack = exchange(client, message)
                    mine.append(time.perf_counter_ns() - started)
                    if f"MSA|AA|{control}".encode() not in ack:
                        raise BenchmarkError(f"{control}: not accepted: {ack!r}")
        except (OSError, BenchmarkError, threading.BrokenBarrierError) as exc:
            gate.abort()
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=sender, args=(share,), daemon=True) for share in shares]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        gate.wait()
    cpu_before = cpu_seconds(server.process.pid)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_after = cpu_seconds(server.process.pid)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    if failures:
        raise BenchmarkError(f"{server.name}, {connections} connection(s): {failures[0]}\n{server.tail()}")
    return Run(
        messages=len(messages),
        connections=connections,
        wall_s=wall,
        messages_per_s=len(messages) / wall,
        results_per_s=len(messages) * RESULTS_PER_MESSAGE / wall,
        latency=latency_summary(latencies),
        cpu_ms_per_message=None if cpu is None else cpu * 1000 / len(messages),
    )


# --- the matrix -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    backend: str
    connections: int
    labvault: Run
    bare: Run

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "connections": self.connections,
            "messages": self.labvault.messages,
            "messages_per_s": self.labvault.messages_per_s,
            "results_per_s": self.labvault.results_per_s,
            "p50_ms": self.labvault.latency["p50_ms"],
            "p99_ms": self.labvault.latency["p99_ms"],
            "cpu_ms_per_message": self.labvault.cpu_ms_per_message,
            "bare_messages_per_s": self.bare.messages_per_s,
            "bare_p50_ms": self.bare.latency["p50_ms"],
            "bare_p99_ms": self.bare.latency["p99_ms"],
            "bare_cpu_ms_per_message": self.bare.cpu_ms_per_message,
            "ratio_labvault_bare": self.labvault.messages_per_s / self.bare.messages_per_s,
            "labvault": asdict(self.labvault),
            "bare": asdict(self.bare),
        }


def measure(site: Site, pair: tuple[Server, Server], config: Config, progress: Progress) -> list[Row]:
    for server in pair:
        send_all(server, site.warmup, 1)
    progress(f"{site.backend}: warmed up ({len(site.warmup)} messages each)")
    rows: list[Row] = []
    for index, (connections, batch) in enumerate(zip(config.connections, site.timed, strict=True)):
        order = pair if index % 2 == 0 else pair[::-1]
        runs = {server.name: send_all(server, batch, connections) for server in order}
        row = Row(site.backend, connections, runs["labvault"], runs["bare"])
        progress(
            f"{site.backend} c{connections}: labvault {brief(row.labvault)}; bare {brief(row.bare)}; "
            f"ratio {row.labvault.messages_per_s / row.bare.messages_per_s:.3f}"
        )
        rows.append(row)
    return rows


def brief(run: Run) -> str:
    return (
        f"{run.messages_per_s:,.1f} msg/s (p50 {run.latency['p50_ms']:.1f} ms, "
        f"p99 {run.latency['p99_ms']:.1f} ms)"
    )


def verify(site: Site) -> dict[str, int]:
    """After the servers stopped: ten results per message in labvault, one row per message in the
    bare table (nothing acknowledged was lost, nothing entered twice)."""
    expected = site.messages
    settings = raised_settings(site.data_dir, site.key_dir, site.database_url)
    platform = open_platform(settings)
    try:
        table = Result.__table__
        with platform.db.owner_engine.connect() as connection:
            results, versions = connection.execute(select(func.count(), func.max(table.c.version))).one()
    finally:
        platform.close()
    if site.database_url:
        with psycopg.connect(libpq_conninfo(site.database_url)) as connection:
            row = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    else:
        with sqlite3.connect(site.work / "bare.sqlite3") as connection:
            row = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    stored = int(row[0]) if row else 0
    if results != expected * RESULTS_PER_MESSAGE or versions != 1 or stored != expected:
        raise BenchmarkError(
            f"{site.backend}: {expected} messages acknowledged, but labvault holds {results} results "
            f"(max version {versions}) and the bare table {stored} rows"
        )
    return {"messages": expected, "labvault_results": int(results), "bare_rows": stored}


def run(config: Config, progress: Progress = log) -> dict[str, Any]:
    """The whole matrix; the figures as a JSON-ready document. Raises :class:`BenchmarkError`."""
    rows: list[Row] = []
    setups: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="labvault-bench-mllp-"))
    try:
        for backend in config.backends:
            with seeded_site(backend, config, work, progress) as site:
                with servers(site, progress) as pair:
                    rows += measure(site, pair, config, progress)
                problems = log_problems(pair[0])
                if problems:
                    progress(f"{backend}: {len(problems)} problem line(s) in labvault's log: {problems[0]}")
                setups[backend] = {
                    "seed_s": round(site.seed_s, 1),
                    "verified": verify(site),
                    "server_log_problems": problems,
                }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"setup": setups, "rows": [r.as_dict() for r in rows]}


# --- output and command line ----------------------------------------------------------------------


def markdown(document: dict[str, Any]) -> str:
    lines = [
        "| backend | connections | messages | labvault msg/s | results/s | p50 ms | p99 ms | CPU ms/msg "
        "| bare msg/s | bare p50 ms | bare p99 ms | bare CPU ms/msg | labvault / bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in document["rows"]:
        lines.append(
            f"| {r['backend']} | {r['connections']} | {r['messages']:,} | {r['messages_per_s']:,.1f} "
            f"| {r['results_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {_ms(r['cpu_ms_per_message'])} | {r['bare_messages_per_s']:,.1f} "
            f"| {r['bare_p50_ms']:.2f} | {r['bare_p99_ms']:.2f} | {_ms(r['bare_cpu_ms_per_message'])} "
            f"| {r['ratio_labvault_bare']:.3f} |"
        )
    lines.append("")
    lines.append(
        f"ORU^R01 of {RESULTS_PER_MESSAGE} OBX each (one EDTA tube: {', '.join(t[0] for t in TESTS)}); "
        "each connection sends its share in order, one ACK awaited per message; every ACK MSA|AA. "
        "CPU ms/msg: the server process's user + system time over the timed run, all its threads "
        "(on PostgreSQL the database server's own CPU is not in it)."
    )
    for backend, setup in document["setup"].items():
        v = setup["verified"]
        lines.append(
            f"{backend}: {v['messages']:,} messages acknowledged in all (warm-up included); labvault holds "
            f"{v['labvault_results']:,} results, the bare table {v['bare_rows']:,} rows."
        )
        if setup["server_log_problems"]:
            lines.append(f"{backend}: labvault's log had problems: {setup['server_log_problems'][:5]}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mllp_ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: SQLite, a few messages, seconds")
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), help="default: both (--quick: sqlite)")
    parser.add_argument("--connections", type=counts, help="concurrent sender counts, e.g. 1,8")
    parser.add_argument("--messages", type=int, help="timed messages per connection count")
    parser.add_argument("--warmup", type=int, help="untimed messages per server first")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--output", type=Path, help="JSON results path (default: benchmarks/results/)")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    base = QUICK if args.quick else FULL
    chosen = {
        key: getattr(args, key)
        for key in ("connections", "messages", "warmup")
        if getattr(args, key) is not None
    }
    backend = args.backend or ("sqlite" if args.quick else "both")
    backends = BACKENDS if backend == "both" else (backend,)
    config = replace(base, backends=backends, pg_url=args.pg_url, **chosen)
    if config.messages < max(config.connections) or config.warmup < 1:
        raise SystemExit("--messages must be at least the largest connection count, --warmup at least 1")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    label = "both" if len(config.backends) > 1 else config.backends[0]
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    try:
        document = run(config)
    except BenchmarkError as exc:
        log(f"FAILED: {exc}")
        return 1
    machine = machine_info("postgresql" if "postgresql" in config.backends else "sqlite", config.pg_url)
    document = {
        "started_at": started_at,
        "command": " ".join(
            ["python -m benchmarks.mllp_ingest", *(argv if argv is not None else sys.argv[1:])]
        ),
        "quick": args.quick,
        "config": dataclasses.asdict(config),
        "machine": machine | {"backend": label},
        **document,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    write_results(document, "mllp-ingest-quick" if args.quick else "mllp-ingest", label, args.output)
    print(markdown(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
