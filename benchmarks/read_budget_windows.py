"""What the per-user hour and day windows, the rate signal and the lab-wide hard limit (issue 10,
finding 3) cost a single read, in process, with budgets on.

``python -m benchmarks.read_budget_windows [--backend sqlite|postgresql] [--reads 2000]``

A lab shaped like the one the defaults are sized for (docs/SECURITY.md): 300 patients this
morning, 10 technicians who each read all of them 5 times three hours ago (a day's events in the
day window, outside the hour) and once now (300 distinct patients in their short window), and 100
reception accounts. Two scenarios, each pairing call by call (the order alternating) the defaults
(**after**) with the monitor as it was before (**before**: no hour or day window, no rate signal,
no lab-wide hard threshold):

* ``desk``: a reception account reads a patient (each account reads about 40 over the run: under
  every threshold and under the rate). The longer windows are counted on an account's first read
  and then bounded (last count + short count); the rate is not counted.
* ``technician``: a technician re-reads one of the morning's patients. Their short window holds
  300 patients, over the rate of 60, and the benchmark reads at script speed: every read counts
  the last minute (and finds the rate alert raised): the most a read pays.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    DEFAULT_PG_ADMIN_URL,
    BenchEnv,
    bench_platform,
    generate_finess_for,
    generate_patients,
    log,
    machine_info,
    write_results,
)
from benchmarks.read_budget_lab import Arm, audit_clock, paired
from labvault.demo.seed import cli_context
from labvault.identity.accounts import context_for
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.monitor import LabBudget, Monitor, Window, install

PASSWORD = "benchmark horse battery staple"
MORNING = 300
STAFF = 10
DESKS = 100
EARLIER_ROUNDS = 5


@dataclass(frozen=True)
class Checks:
    """The monitor's fields this change added or changed, set per call."""

    windows: tuple[Window, ...]
    rate_per_minute: int | None
    lab_budget: LabBudget | None

    def apply(self, monitor: Monitor) -> None:
        monitor.windows, monitor.rate_per_minute, monitor.lab_budget = (
            self.windows,
            self.rate_per_minute,
            self.lab_budget,
        )


def accounts(env: BenchEnv, code: str) -> tuple[AccessContext, list[AccessContext], list[AccessContext]]:
    """A lab with its admin, a registrar, ``STAFF`` technicians and ``DESKS`` reception accounts."""
    platform = env.platform
    operator = cli_context()
    lab = platform.labs.create(operator, code, f"Laboratoire {code}", generate_finess_for(code))
    admin = platform.accounts.create_user(operator, f"{code.lower()}.admin", PASSWORD, Role.LAB_ADMIN, lab.id)
    creator = context_for(admin, Purpose.ADMINISTRATION, "benchmark")

    def account(name: str, role: Role) -> AccessContext:
        user = platform.accounts.create_user(creator, f"{code.lower()}.{name}", PASSWORD, role, lab.id)
        return context_for(user, Purpose.CARE, "benchmark")

    registrar = account("registrar", Role.RECEPTION)
    staff = [account(f"tech{i}", Role.TECHNICIAN) for i in range(STAFF)]
    return registrar, staff, [account(f"desk{i}", Role.RECEPTION) for i in range(DESKS)]


def run(backend: str, reads: int, pg_admin_url: str) -> dict[str, Any]:
    people = generate_patients(MORNING, 20_261_207)
    with bench_platform(backend, pg_admin_url) as env:
        platform = env.platform
        registrar, staff, desks = accounts(env, "LABWIN")
        morning = platform.patients.register_many(registrar, people)
        settings = platform.settings.model_copy(update={"read_budgets": True})
        monitor = install(platform.db, settings)
        assert monitor.lab_budget is not None
        after = Checks(monitor.windows, monitor.rate_per_minute, monitor.lab_budget)
        before = Checks((), None, LabBudget(monitor.lab_budget.soft, None))
        monitor.rate_per_minute = None  # the seed reads at script speed: no rate alert from it
        with audit_clock(dt.timedelta(hours=3)):
            for _ in range(EARLIER_ROUNDS):
                for tech in staff:
                    for patient_id in morning:
                        platform.patients.get(tech, patient_id)
        for tech in staff:
            for patient_id in morning:
                platform.patients.get(tech, patient_id)
        log(f"seeded: {STAFF} technicians x {MORNING} patients x {EARLIER_ROUNDS + 1}, {DESKS} desk accounts")

        def arm(checks: Checks, readers: Sequence[AccessContext]) -> Arm:
            def call(number: int) -> None:
                checks.apply(monitor)
                platform.patients.get(readers[number % len(readers)], morning[(number * 7) % MORNING])

            return call

        arms: dict[str, dict[str, float]] = {}
        arms["desk, after"], arms["desk, before"] = paired(arm(after, desks), arm(before, desks), reads)
        arms["technician, after"], arms["technician, before"] = paired(
            arm(after, staff), arm(before, staff), reads
        )
        after.apply(monitor)
        log(", ".join(f"{k} p50 {v['p50_ms']:.3f} ms" for k, v in arms.items()))
        return {
            "backend": backend,
            "machine": machine_info(backend, pg_admin_url),
            "reads_per_arm": reads,
            "arms": arms,
        }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"### Per-user windows and rate signal ({result['backend']}, "
        f"{result['reads_per_arm']:,} reads per arm)",
        "",
        "| arm | n | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, s in result["arms"].items():
        lines.append(
            f"| {label} | {s['n']:,} | {s['p50_ms']:.3f} | {s['p95_ms']:.3f} | {s['p99_ms']:.3f} "
            f"| {s['mean_ms']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from benchmarks.run import parse_count

    parser = argparse.ArgumentParser(prog="python -m benchmarks.read_budget_windows", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--reads", type=parse_count, default=2_000, help="timed reads per arm")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.backend, args.reads, args.pg_url)
    print(table(result))
    write_results(result, "read-windows", args.backend, args.output)


if __name__ == "__main__":
    main()
