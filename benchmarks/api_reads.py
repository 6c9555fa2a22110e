"""HTTP benchmark of the audited read path: the real ``labvault serve`` under ``wrk``, against a bare
FastAPI app answering the same bytes (benchmarks/bare_app.py), in the same run.

``python -m benchmarks.api_reads [--quick] [--backend sqlite|postgresql|both] [--workers 1,2]
[--connections 1,8,32] [--duration 10]``

The in-process benchmarks time the services; a client also pays HTTP, the token check, the
dependencies, the JSON and the server's threads under concurrency. The bare app is the floor of that
stack, so bare reads/s over labvault's is what labvault's own work (token, RLS, decryption, audit,
budgets) costs per read.

Per backend: a throw-away platform (temporary data and key directories; on PostgreSQL a database
created for the run and dropped after), one lab with synthetic patients (Faker fr_FR), its staff,
a biologist with an API token, and orders taken through the workflow (demo/workflow_seed.py) so
that a worklist has lines. The read budgets stay on (the production path: monitor, alerts, RLS on
PostgreSQL), their thresholds raised through the ``LABVAULT_*`` variables so that one account
reading at script speed is never refused. Scenarios: ``patient`` cycles
``GET /api/v1/patients/{id}`` over up to 200 patient ids, ``worklist`` reads the lab's largest
worklist. Every answer must be 2xx: anything else (a budget's 429) fails the run.

Markdown table on stdout, progress on stderr, JSON in ``benchmarks/results/`` (gitignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.bare_app import PATIENT_BODY_ENV, WORKLIST_BODY_ENV
from benchmarks.common import (
    BENCH_PASSWORD,
    DEFAULT_PG_ADMIN_URL,
    RAISED_BUDGETS,
    PgDatabase,
    Progress,
    generate_finess_for,
    generate_patients,
    log,
    machine_info,
    write_results,
)
from labvault.config import Settings
from labvault.demo.seed import cli_context, enroll_demo_mfa
from labvault.demo.workflow_seed import LabStaff, SeedPatient, seed_workflow
from labvault.identity.accounts import Account, context_for
from labvault.platform import Platform, initialise, open_platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.workflow.worklist import STAGES

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")
SCENARIOS = ("patient", "worklist")
CYCLE = 200  # patient ids the patient scenario cycles over
LAB_CODE = "BENCHAPI"
# One wrk thread: the machine has 2 cores, which the servers need; one event loop keeps 32
# connections busy against a Python server with room to spare.
WRK_THREADS = 1
WRK_TIMEOUT = "10s"
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


class BenchmarkError(RuntimeError):
    """The run cannot measure what it claims (no wrk, a server down, an answer not 2xx)."""


@dataclass(frozen=True)
class Config:
    backends: tuple[str, ...] = ("sqlite",)
    workers: tuple[int, ...] = (1, 2)
    connections: tuple[int, ...] = (1, 8, 32)
    duration: int = 10  # seconds of each timed wrk run
    warmup: int = 2  # seconds of the untimed wrk run per server and scenario
    patients: int = 300
    orders: int = 120  # taken through the workflow, so the worklists have lines
    seed: int = 20_261_207
    pg_url: str = DEFAULT_PG_ADMIN_URL


FULL = Config()
# Under a minute on 2 cores: one worker count, two connection counts, 3 s runs, a smaller lab.
QUICK = Config(workers=(1,), connections=(1, 8), duration=3, warmup=1, patients=100, orders=40)


# --- the platform ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Worklist:
    section: str
    stage: str
    lines: int
    patients: int

    @property
    def path(self) -> str:
        return f"/api/v1/worklist?section={self.section}&stage={self.stage}"


@dataclass(frozen=True)
class Site:
    """A seeded platform the servers are started on, and what the load reads in it."""

    backend: str
    data_dir: Path
    key_dir: Path
    database_url: str | None
    token: str
    patient_ids: tuple[uuid.UUID, ...]
    worklist: Worklist
    seed_s: float


def raised_settings(data_dir: Path, key_dir: Path, database_url: str | None) -> Settings:
    """The settings the servers get from :func:`server_env`, for seeding in process."""
    values = {"data_dir": data_dir, "key_dir": key_dir, "database_url": database_url, **RAISED_BUDGETS}
    return Settings.model_validate(values)


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without its ``LABVAULT_*`` variables (the run measures the defaults), plus
    the raised budgets as the server reads them (JSON for the per-role maps)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LABVAULT_")}
    env.update({f"LABVAULT_{key.upper()}": json.dumps(value) for key, value in RAISED_BUDGETS.items()})
    return env | (extra or {})


@contextmanager
def seeded_site(backend: str, config: Config, work: Path, progress: Progress) -> Iterator[Site]:
    """A new platform under ``work`` (on PostgreSQL in a database of its own, dropped on exit),
    seeded and closed: only the servers hold it while the load runs."""
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
            token, ids, worklist = seed_lab(platform, config, progress)
        finally:
            platform.close()
        seed_s = time.perf_counter() - started
        progress(f"{backend}: platform seeded in {seed_s:.1f} s")
        yield Site(backend, data_dir, key_dir, url, token, ids, worklist, seed_s)
    finally:
        if pg is not None:
            pg.drop()


def seed_lab(
    platform: Platform, config: Config, progress: Progress
) -> tuple[str, tuple[uuid.UUID, ...], Worklist]:
    """One lab with its staff, patients and orders; the biologist's token, the patient ids to
    cycle over and the largest worklist."""
    operator = cli_context()
    lab = platform.labs.create(operator, LAB_CODE, "Laboratoire du banc", generate_finess_for(LAB_CODE))
    admin = platform.accounts.create_user(operator, "bench.api.admin", BENCH_PASSWORD, Role.LAB_ADMIN, lab.id)
    creator = context_for(admin, Purpose.ADMINISTRATION, "benchmark")
    roles = (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST)
    accounts = {
        role: platform.accounts.create_user(creator, f"bench.api.{role.value}", BENCH_PASSWORD, role, lab.id)
        for role in roles
    }
    staff = LabStaff(*(context_for(accounts[role], Purpose.CARE, "benchmark") for role in roles))
    people = generate_patients(config.patients, config.seed, progress)
    ids = platform.patients.register_many(staff.reception, people)
    patients = [SeedPatient(pid, p.sex, p.birth_date) for pid, p in zip(ids, people, strict=True)]
    done = seed_workflow(platform, staff, patients, random.Random(config.seed), config.orders, reports=0)
    progress(f"{len(ids)} patients, {done.orders} orders, {done.results} results")
    return (
        biologist_token(platform, accounts[Role.BIOLOGIST]),
        tuple(ids[:CYCLE]),
        largest_worklist(platform, staff.biologist),
    )


def biologist_token(platform: Platform, account: Account) -> str:
    """What ``labvault token create`` gives an enrolled biologist: the owner sets their password
    and enrols their authenticator first (as the demo does), then a script token is issued."""
    own = BENCH_PASSWORD + " own"
    platform.accounts.set_own_password(account.username, BENCH_PASSWORD, own, None, "benchmark")
    enroll_demo_mfa(platform, account.username, own)
    return platform.accounts.issue_token(account, "api-reads", dt.timedelta(days=1), "benchmark").token


def largest_worklist(platform: Platform, biologist: AccessContext) -> Worklist:
    """The section and stage with the most lines the biologist sees (the seed is fixed, so the same
    one every run)."""
    assert biologist.lab_id is not None
    sections = sorted({test.section for test in platform.catalogs.active(biologist.lab_id).tests})
    best = Worklist("", "", 0, 0)
    for section in sections:
        for stage in STAGES:
            lines = platform.results.worklist(biologist, section, stage)
            if len(lines) > best.lines:
                best = Worklist(section, stage, len(lines), len({line.patient_id for line in lines}))
    if not best.lines:
        raise BenchmarkError("the seeded lab has no worklist line: raise --orders")
    return best


# --- the servers -------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def start(name: str, command: list[str], port: int, env: dict[str, str], log_path: Path) -> Server:
    """Start a server in its own session (so a stuck one can be killed with its workers) and wait
    until its /healthz answers."""
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
        )
    server = Server(name, process, port, log_path)
    try:
        wait_ready(server)
    except BaseException:
        stop(server)
        raise
    return server


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchmarkError(
                f"{server.name} exited with {server.process.returncode} before answering:\n{server.tail()}"
            )
        try:
            if http_get(server.port, "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchmarkError(f"{server.name} did not answer within {STARTUP_TIMEOUT_S:.0f} s:\n{server.tail()}")


def stop(server: Server) -> None:
    """SIGTERM (labvault signs its audit heads on a graceful stop), then SIGKILL to its session."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
    else:
        server.process.wait()


def serve_supports_workers() -> bool:
    """Whether ``labvault serve`` takes ``--workers`` (another change adds it)."""
    answer = subprocess.run(
        [sys.executable, "-m", "labvault.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=server_env({"COLUMNS": "200", "NO_COLOR": "1"}),
        timeout=120,
    )
    return "--workers" in answer.stdout


def labvault_command(site: Site, port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "labvault.cli", "serve", "--data-dir", str(site.data_dir)]
    command += ["--key-dir", str(site.key_dir), "--host", "127.0.0.1", "--port", str(port)]
    if site.database_url:
        command += ["--database-url", site.database_url]
    if workers > 1:
        command += ["--workers", str(workers)]
    return command


def bare_command(port: int, workers: int) -> list[str]:
    """Uvicorn as labvault runs it (no access log, no server header; several workers through the
    same supervisor, web/processes.py): benchmarks/bare_app.py's ``main``."""
    return [sys.executable, "-m", "benchmarks.bare_app", "--port", str(port), "--workers", str(workers)]


def capture(server: Server, path: str, token: str) -> bytes:
    """One real GET: the body the bare app will answer."""
    status, body = http_get(server.port, path, token)
    if status != 200:
        raise BenchmarkError(f"{server.name} answered {status} to GET {path}: {body[:300]!r}")
    return body


@contextmanager
def servers(site: Site, workers: int, work: Path, progress: Progress) -> Iterator[tuple[Server, Server]]:
    """labvault, then the bare app answering the bytes labvault answered, each with ``workers``."""
    here = work / site.backend / f"w{workers}"
    here.mkdir(parents=True, exist_ok=True)
    env = server_env()
    port = free_port()
    labvault = start("labvault", labvault_command(site, port, workers), port, env, here / "labvault.log")
    bare: Server | None = None
    try:
        bodies = {
            PATIENT_BODY_ENV: capture(labvault, patient_path(site.patient_ids[0]), site.token),
            WORKLIST_BODY_ENV: capture(labvault, site.worklist.path, site.token),
        }
        for name, body in bodies.items():
            (here / name).write_bytes(body)
        env |= {name: str(here / name) for name in bodies} | {"PYTHONPATH": str(ROOT)}
        port = free_port()
        bare = start("bare app", bare_command(port, workers), port, env, here / "bare.log")
        for path, body in zip(
            (patient_path(site.patient_ids[0]), site.worklist.path), bodies.values(), strict=True
        ):
            if capture(bare, path, site.token) != body:
                raise BenchmarkError(f"the bare app does not answer labvault's bytes for {path}")
        progress(
            f"{site.backend}, {workers} worker(s): labvault on :{labvault.port}, bare app on :{bare.port}; "
            f"patient body {len(bodies[PATIENT_BODY_ENV])} B, worklist {len(bodies[WORKLIST_BODY_ENV])} B"
        )
        yield labvault, bare
    finally:
        if bare is not None:
            stop(bare)
        stop(labvault)


def patient_path(patient_id: uuid.UUID) -> str:
    return f"/api/v1/patients/{patient_id}"


# --- wrk ---------------------------------------------------------------------------------------------

LUA = """-- Written by benchmarks/api_reads.py: cycles the paths with the bearer token, counts non-2xx.
local paths = { @PATHS@ }
local threads = {}
local requests = {}
local next_request = 0
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Authorization"] = "Bearer @TOKEN@"
  for i, path in ipairs(paths) do
    requests[i] = wrk.format("GET", path)
  end
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
  end
  io.write(string.format("non-2xx (lua): %d\\n", total))
end
"""
SAFE = re.compile(r"^[A-Za-z0-9_\-./?=&]+$")  # nothing to escape in a Lua string


def lua_script(directory: Path, name: str, paths: Sequence[str], token: str) -> Path:
    """The wrk script for one scenario, readable by this user only (it holds the token)."""
    if not all(SAFE.match(text) for text in (*paths, token)):
        raise BenchmarkError("a path or the token has characters the Lua script would need escaped")
    script = directory / f"{name}.lua"
    script.write_text(LUA.replace("@PATHS@", ", ".join(f'"{p}"' for p in paths)).replace("@TOKEN@", token))
    script.chmod(0o600)
    return script


@dataclass(frozen=True)
class WrkRun:
    reads_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
TIME = r"([\d.]+)(us|ms|s|m|h)"


def parse_wrk(text: str) -> WrkRun:
    """Reads/s, p50 and p99 from ``wrk --latency``, the non-2xx count (the Lua count, which also
    sees 1xx and 3xx, or wrk's own, whichever is larger) and the socket errors."""

    def number(pattern: str) -> re.Match[str]:
        found = re.search(pattern, text, re.MULTILINE)
        if found is None:
            raise BenchmarkError(f"no {pattern!r} in wrk's output:\n{text}")
        return found

    def percentile(p: int) -> float:
        found = number(rf"^\s+{p}%\s+{TIME}\s*$")
        return float(found[1]) * UNITS_MS[found[2]]

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    wrk_non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return WrkRun(
        reads_per_s=float(number(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        requests=int(number(r"^\s+(\d+) requests in ")[1]),
        non_2xx=max(int(number(r"^non-2xx \(lua\): (\d+)")[1]), int(wrk_non_2xx[1]) if wrk_non_2xx else 0),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run_wrk(wrk: str, server: Server, script: Path, connections: int, seconds: int) -> WrkRun:
    command = [wrk, f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{seconds}s"]
    command += ["--timeout", WRK_TIMEOUT, "--latency", "-s", str(script), f"http://127.0.0.1:{server.port}"]
    answer = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if answer.returncode != 0:
        raise BenchmarkError(f"wrk failed ({answer.returncode}): {answer.stderr.strip()}")
    run = parse_wrk(answer.stdout)
    check(run, server, f"{script.stem}, {connections} connection(s)")
    return run


def check(run: WrkRun, server: Server, label: str) -> None:
    """Loud failure when the figures would not be reads: refusals, errors, or nothing at all."""
    if run.non_2xx:
        raise BenchmarkError(
            f"{server.name}, {label}: {run.non_2xx} of {run.requests} answers were not 2xx (a read "
            f"budget refusing?). Server log:\n{server.tail()}"
        )
    if run.socket_errors:
        raise BenchmarkError(f"{server.name}, {label}: {run.socket_errors} socket errors:\n{server.tail()}")
    if not run.requests:
        raise BenchmarkError(f"{server.name}, {label}: no answer at all:\n{server.tail()}")


def ensure_wrk(progress: Progress) -> str:
    """wrk's path; installed from Debian's package when missing and we are root."""
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        progress("wrk is missing: apt-get install -y wrk")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=env, check=False).returncode != 0:  # stale package lists
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("wrk")
    if found is None:
        raise BenchmarkError(
            "wrk is not installed: install Debian's package (apt-get install wrk, as root), "
            "or run this benchmark as root, which installs it"
        )
    return found


def wrk_version(wrk: str) -> str:
    answer = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (answer.stdout or answer.stderr).splitlines()[0].strip() if answer.stdout or answer.stderr else "?"


# --- the matrix --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    backend: str
    workers: int
    connections: int
    scenario: str
    labvault: WrkRun
    bare: WrkRun

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "workers": self.workers,
            "connections": self.connections,
            "scenario": self.scenario,
            "reads_per_s": self.labvault.reads_per_s,
            "p50_ms": self.labvault.p50_ms,
            "p99_ms": self.labvault.p99_ms,
            "bare_reads_per_s": self.bare.reads_per_s,
            "ratio_bare_labvault": self.bare.reads_per_s / self.labvault.reads_per_s,
            "labvault": asdict(self.labvault),
            "bare": asdict(self.bare),
        }


def measure(
    site: Site, workers: int, pair: tuple[Server, Server], wrk: str, config: Config, progress: Progress
) -> list[Row]:
    """Warm both servers up on both scenarios, then every connection count and scenario on both,
    the server measured first alternating row by row (drift hits both alike)."""
    scripts = {
        "patient": lua_script(
            pair[0].log.parent, "patient", [patient_path(i) for i in site.patient_ids], site.token
        ),
        "worklist": lua_script(pair[0].log.parent, "worklist", [site.worklist.path], site.token),
    }
    for scenario, script in scripts.items():
        for server in pair:
            run_wrk(wrk, server, script, max(config.connections), config.warmup)
        progress(f"warmed up: {scenario}")
    rows: list[Row] = []
    for connections in config.connections:
        for scenario, script in scripts.items():
            order = pair if len(rows) % 2 == 0 else pair[::-1]
            runs = {
                server.name: run_wrk(wrk, server, script, connections, config.duration) for server in order
            }
            row = Row(site.backend, workers, connections, scenario, runs["labvault"], runs["bare app"])
            progress(
                f"{site.backend} w{workers} c{connections} {scenario}: labvault {brief(row.labvault)}, "
                f"bare {brief(row.bare)}"
            )
            rows.append(row)
    return rows


def brief(run: WrkRun) -> str:
    return f"{run.reads_per_s:,.0f} reads/s (p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms)"


def run(config: Config, progress: Progress = log) -> dict[str, Any]:
    """The whole matrix; the figures as a JSON-ready document. Raises :class:`BenchmarkError`."""
    wrk = ensure_wrk(progress)
    with_workers = serve_supports_workers()
    notes: list[str] = []
    if not with_workers and any(n > 1 for n in config.workers):
        notes.append("`labvault serve` has no --workers option yet: rows with workers > 1 skipped")
        progress(notes[-1])
    workers = [n for n in config.workers if n == 1 or with_workers]
    rows: list[Row] = []
    setups: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="labvault-bench-api-"))
    try:
        for backend in config.backends:
            with seeded_site(backend, config, work, progress) as site:
                setups[backend] = setup_of(site)
                for count in workers:
                    with servers(site, count, work, progress) as pair:
                        rows += measure(site, count, pair, wrk, config, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"notes": notes, "wrk": wrk_version(wrk), "setup": setups, "rows": [r.as_dict() for r in rows]}


def setup_of(site: Site) -> dict[str, Any]:
    return {
        "seed_s": round(site.seed_s, 1),
        "patient_ids_cycled": len(site.patient_ids),
        "worklist": asdict(site.worklist) | {"path": site.worklist.path},
    }


# --- output and command line -------------------------------------------------------------------------


def markdown(document: dict[str, Any]) -> str:
    lines = [
        "| backend | workers | connections | scenario | reads/s | p50 ms | p99 ms | bare reads/s "
        "| ratio bare/labvault |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in document["rows"]:
        lines.append(
            f"| {r['backend']} | {r['workers']} | {r['connections']} | {r['scenario']} "
            f"| {r['reads_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['bare_reads_per_s']:,.0f} | {r['ratio_bare_labvault']:.1f}x |"
        )
    lines.append("")
    for backend, setup in document["setup"].items():
        wl = setup["worklist"]
        lines.append(
            f"{backend}: patient = GET /api/v1/patients/{{id}} over {setup['patient_ids_cycled']} ids; "
            f"worklist = {wl['section']}/{wl['stage']}, {wl['lines']} lines, {wl['patients']} patients."
        )
    lines += [f"Note: {note}" for note in document["notes"]]
    return "\n".join(lines)


def counts(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers expected") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: positive numbers expected")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.api_reads", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run, under a minute")
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="sqlite")
    parser.add_argument("--workers", type=counts, help="server worker counts, e.g. 1,2")
    parser.add_argument("--connections", type=counts, help="wrk connection counts, e.g. 1,8,32")
    parser.add_argument("--duration", type=int, help="seconds per timed wrk run")
    parser.add_argument("--warmup", type=int, help="seconds per untimed warm-up run")
    parser.add_argument("--patients", type=int, help="synthetic patients in the lab")
    parser.add_argument("--orders", type=int, help="orders taken through the workflow")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--output", type=Path, help="JSON results path (default: benchmarks/results/)")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    base = QUICK if args.quick else FULL
    chosen = {
        key: getattr(args, key)
        for key in ("workers", "connections", "duration", "warmup", "patients", "orders")
        if getattr(args, key) is not None
    }
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    return replace(base, backends=backends, pg_url=args.pg_url, **chosen)


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
            ["python -m benchmarks.api_reads", *(argv if argv is not None else sys.argv[1:])]
        ),
        "quick": args.quick,
        "config": asdict(config),
        "machine": machine | {"backend": label},
        **document,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    write_results(document, "api-reads-quick" if args.quick else "api-reads", label, args.output)
    print(markdown(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
