"""What the lab-wide read budget costs a single read, in process, with budgets on.

``python -m benchmarks.read_budget_lab [--backend sqlite|postgresql] [--history 100k] [--reads 2000]``

The other benchmarks run with budgets on and their thresholds raised far above what their one
account reads (benchmarks/common.py). Here the monitor is re-installed with budgets on at the
defaults and a lab is shaped like the one the
defaults are sized for (docs/SECURITY.md): ``--history`` events from earlier in the day (patients
registered three hours ago: events of the lab, outside the window), then a morning in the window:
300 patients, each read by every one of 10 technicians (3,000 counted events, 300 distinct
patients). Each timed call is a technician re-reading one of those patients (``patients.get``).
Two phases, each alternating a pair of arms call by call (which goes first alternates too):

* ``throttled`` against ``off``: the defaults (soft 1,000, no hard threshold; the lab is counted
  only when the bound of its last count could pass soft) against the lab-wide check off
  (``monitor.lab_budget = None``). Everything else is on in both: per-user budget, canaries,
  off-hours, origins.
* ``every read`` against ``off``: thresholds 300/301, just at the lab's 300 patients: the bound
  passes the hard one at every read, so every read counts (what an unthrottled check would pay;
  a lab at its hard threshold pays it too).

Then, with the lab check off, blocks of reads with the new index ``ix_audit_events_chain_at``
dropped and re-created alternately: what maintaining it costs each audit append. The count query's
plan is printed with and without the index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.common import (
    BATCH,
    DEFAULT_PG_ADMIN_URL,
    BenchEnv,
    bench_platform,
    generate_finess_for,
    generate_patients,
    latency_summary,
    log,
    machine_info,
    write_results,
)
from labvault.demo.seed import cli_context
from labvault.identity.accounts import context_for
from labvault.oversight.read_budget import _EVENTS, counted_in_lab, distinct_query, lab_patients
from labvault.security import audit
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.monitor import LabBudget, Monitor, install

PASSWORD = "benchmark horse battery staple"
STAFF = 10
MORNING = 300
INDEX = "ix_audit_events_chain_at"
INDEX_BLOCKS = 6  # per arm
WARMUP = 200
Arm = Callable[[int], None]


def staff_of(env: BenchEnv, code: str) -> tuple[AccessContext, list[AccessContext]]:
    """A second lab with its admin, one reception account and ``STAFF`` technicians."""
    operator = cli_context()
    platform = env.platform
    lab = platform.labs.create(operator, code, f"Laboratoire {code}", generate_finess_for(code))
    admin = platform.accounts.create_user(operator, f"{code.lower()}.admin", PASSWORD, Role.LAB_ADMIN, lab.id)
    creator = context_for(admin, Purpose.ADMINISTRATION, "benchmark")

    def account(name: str, role: Role) -> AccessContext:
        user = platform.accounts.create_user(creator, f"{code.lower()}.{name}", PASSWORD, role, lab.id)
        return context_for(user, Purpose.CARE, "benchmark")

    return account("reception", Role.RECEPTION), [account(f"tech{i}", Role.TECHNICIAN) for i in range(STAFF)]


@contextmanager
def audit_clock(offset: dt.timedelta) -> Iterator[None]:
    """Stamp audit events ``offset`` in the past (seeding the day before the window)."""
    real = audit.utcnow
    audit.utcnow = lambda: real() - offset  # type: ignore[assignment]
    try:
        yield
    finally:
        audit.utcnow = real  # type: ignore[assignment]


def explain(env: BenchEnv, lab_id: uuid.UUID, actor: AccessContext | None = None) -> list[str]:
    """The plan of the lab's count, or with ``actor`` of that user's count (which must keep its
    own index ``(actor_id, at)``)."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    if actor is None:
        distinct = select(_EVENTS.c.patient_id).where(*counted_in_lab(lab_id, since)).distinct()
    else:
        distinct = distinct_query(actor, since, 6_001)
    query = select(func.count()).select_from(distinct.subquery())
    engine = env.platform.db.owner_engine
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if env.backend == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        return [" ".join(str(part) for part in row) for row in conn.exec_driver_sql(prefix + sql).all()]


def window_count(env: BenchEnv, lab_id: uuid.UUID) -> tuple[int, int]:
    """The count query alone, in a lab transaction as the check runs it: (patients, ns)."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    with env.platform.db.transaction(lab_id) as session:
        started = time.perf_counter_ns()
        count = lab_patients(session, lab_id, since, None)
        return count, time.perf_counter_ns() - started


def paired(first: Arm, second: Arm, reads: int) -> tuple[dict[str, float], dict[str, float]]:
    """Both arms once per step, the order alternating (after untimed warm-up steps)."""
    samples: tuple[list[int], list[int]] = ([], [])
    for number in range(WARMUP + reads):
        order = (0, 1) if number % 2 else (1, 0)
        for which in order:
            started = time.perf_counter_ns()
            (first, second)[which](number)
            if number >= WARMUP:
                samples[which].append(time.perf_counter_ns() - started)
    return latency_summary(samples[0]), latency_summary(samples[1])


def run(backend: str, history: int, reads: int, pg_admin_url: str) -> dict[str, Any]:
    people = generate_patients(history + MORNING, 20_261_201)
    with bench_platform(backend, pg_admin_url) as env:
        platform = env.platform
        reception, staff = staff_of(env, "LABBUDGET")
        assert reception.lab_id is not None
        lab_id = reception.lab_id
        with audit_clock(dt.timedelta(hours=3)):
            for start in range(0, history, BATCH):
                platform.patients.register_many(reception, people[start : min(start + BATCH, history)])
            log(f"history: {history:,} events three hours ago")
        monitor = install(platform.db, platform.settings.model_copy(update={"read_budgets": True}))
        default_budget = monitor.lab_budget
        morning = platform.patients.register_many(reception, people[history:])
        for tech in staff:
            for patient_id in morning:
                platform.patients.get(tech, patient_id)
        in_window, _ = window_count(env, lab_id)
        log(f"window: {in_window} distinct patients, {STAFF * MORNING:,} counted reads")

        def arm(budget: LabBudget | None) -> Arm:
            def call(number: int) -> None:
                monitor.lab_budget = budget
                platform.patients.get(staff[number % STAFF], morning[(number * 7) % MORNING])

            return call

        arms: dict[str, dict[str, float]] = {}
        arms["throttled"], arms["off (paired with throttled)"] = paired(arm(default_budget), arm(None), reads)
        arms["every read"], arms["off (paired with every read)"] = paired(
            arm(LabBudget(MORNING, MORNING + 1)), arm(None), reads
        )
        monitor.lab_budget = default_budget
        count_alone = latency_summary([window_count(env, lab_id)[1] for _ in range(200)])
        log("lab check: " + ", ".join(f"{k} p50 {v['p50_ms']:.3f} ms" for k, v in arms.items()))
        plan_with = explain(env, lab_id)
        plan_user = explain(env, lab_id, staff[0])
        index_samples = index_cost(env, monitor, staff, morning, reads // INDEX_BLOCKS)
        monitor.lab_budget = default_budget
        return {
            "backend": backend,
            "machine": machine_info(backend, pg_admin_url),
            "history_events": history,
            "window": {"distinct_patients": in_window, "counted_events": STAFF * MORNING},
            "reads_per_arm": reads,
            "arms": arms,
            "count_query_alone": count_alone,
            "index": index_samples,
            "plan_with_index": plan_with,
            "plan_per_user_count": plan_user,
        }


def index_cost(
    env: BenchEnv,
    monitor: Monitor,
    staff: Sequence[AccessContext],
    morning: Sequence[uuid.UUID],
    per_block: int,
) -> dict[str, Any]:
    """Reads with the lab check off, in blocks with the index present or dropped, alternating."""
    platform = env.platform
    monitor.lab_budget = None
    lab_id = staff[0].lab_id
    assert lab_id is not None
    samples: dict[str, list[int]] = {"with index": [], "without index": []}
    plan_without: list[str] = []
    owner = platform.db.owner_engine
    for block in range(2 * INDEX_BLOCKS):
        present = block % 2 == 0
        with owner.begin() as conn:
            if present and block:
                conn.exec_driver_sql(f"CREATE INDEX {INDEX} ON audit_events (chain, at)")
            elif not present:
                conn.exec_driver_sql(f"DROP INDEX {INDEX}")
        if not present and not plan_without:
            plan_without = explain(env, lab_id)
        name = "with index" if present else "without index"
        for number in range(per_block):
            started = time.perf_counter_ns()
            platform.patients.get(staff[number % STAFF], morning[(number * 11) % MORNING])
            samples[name].append(time.perf_counter_ns() - started)
    with owner.begin() as conn:
        conn.exec_driver_sql(f"CREATE INDEX {INDEX} ON audit_events (chain, at)")
    return {
        "blocks_per_arm": INDEX_BLOCKS,
        **{name: latency_summary(values) for name, values in samples.items()},
        "plan_without_index": plan_without,
    }


def table(result: dict[str, Any]) -> str:
    window = result["window"]
    lines = [
        f"### Lab-wide read budget ({result['backend']}, {result['history_events']:,} earlier events, "
        f"window: {window['distinct_patients']} patients / {window['counted_events']:,} counted reads)",
        "",
        "| arm | n | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [(f"read, lab check {name}", value) for name, value in result["arms"].items()]
    rows.append(("count query alone", result["count_query_alone"]))
    rows += [
        (f"read, lab check off, {name}", result["index"][name]) for name in ("with index", "without index")
    ]
    for label, s in rows:
        lines.append(
            f"| {label} | {s['n']:,} | {s['p50_ms']:.3f} | {s['p95_ms']:.3f} | {s['p99_ms']:.3f} "
            f"| {s['mean_ms']:.3f} |"
        )
    lines += ["", "Count query plan with the index:", *[f"    {row}" for row in result["plan_with_index"]]]
    lines += ["Without:", *[f"    {row}" for row in result["index"]["plan_without_index"]]]
    lines += ["Per-user count, with the index:", *[f"    {row}" for row in result["plan_per_user_count"]]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from benchmarks.run import parse_count

    parser = argparse.ArgumentParser(prog="python -m benchmarks.read_budget_lab", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--history", type=parse_count, default=100_000, help="earlier events of the lab")
    parser.add_argument("--reads", type=parse_count, default=2_000, help="timed reads per arm")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.backend, args.history, args.reads, args.pg_url)
    print(table(result))
    write_results(result, "lab-budget", args.backend, args.output)


if __name__ == "__main__":
    main()
