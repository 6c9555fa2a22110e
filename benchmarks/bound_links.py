"""What sealing and checking row links costs the workflow's reads and writes, in process.

``python -m benchmarks.bound_links [--backend sqlite|postgresql] [--patients 60] [--calls 200]``

One platform, one lab. Each patient gets one order (NFS panel + GLU: 14 items, one tube) with its
results entered and validated. Then every service call below is timed twice in the same run, the
two arms alternating call by call (which goes first alternates too):

* ``sealed``: as shipped (store/bound_links.py: every bound row sealed at flush, checked on load);
* ``unsealed``: the seal computation and the check replaced by no-ops in this process (the seal
  column still gets 32 constant bytes, so both arms write the same row sizes).

Reads (on orders written sealed): ``orders.get`` (1 order, 14 items, 1 tube, 14 results checked),
``reports.history`` (the patient's results, joined through items and orders, checked as columns),
``results.versions``. Writes: ``orders.create`` (1 order, 14 items, 1 tube sealed) and
``results.enter`` of one order's 14 results (14 results and 14 items re-sealed). Written rows of the
unsealed arm carry no valid seal: they are never read again.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BENCH_PASSWORD,
    DEFAULT_PG_ADMIN_URL,
    bench_platform,
    generate_patients,
    latency_summary,
    log,
    machine_info,
    write_results,
)
from labvault.catalog.model import Catalog, TestDefinition
from labvault.catalog.ranges import select_range
from labvault.identity.accounts import context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store import bound_links
from labvault.workflow.order_data import OrderRecord, OrderRequest
from labvault.workflow.result_entry import ResultEntry


@contextmanager
def unsealed() -> Iterator[None]:
    """Seals neither computed nor checked in this process, for the duration of the block."""
    seal, check = bound_links.seal_values, bound_links.check_values
    bound_links.seal_values = lambda *args, **kwargs: b"\x00" * 32  # type: ignore[assignment]
    bound_links.check_values = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        bound_links.seal_values, bound_links.check_values = seal, check


def _normal(test: TestDefinition) -> str:
    """The middle of the test's range for an adult woman: never critical, always plausible."""
    chosen = select_range(test, "F", 40 * 365)
    assert chosen is not None and (chosen.low is not None or chosen.high is not None), test.code
    if chosen.low is not None and chosen.high is not None:
        number = (chosen.low + chosen.high) / 2
    else:
        number = chosen.low * 1.2 if chosen.low is not None else (chosen.high or 0.0) * 0.8
    decimals = test.decimals if test.decimals is not None else 2
    return f"{number:.{decimals}f}"


class Lab:
    def __init__(self, platform: Platform, reception: AccessContext) -> None:
        self.platform = platform
        self.reception = reception
        assert reception.lab_id is not None
        admin = platform.accounts.by_username("bench.bench1.admin")
        admin_ctx = context_for(admin, Purpose.ADMINISTRATION, "benchmark")
        made = {
            role: platform.accounts.create_user(
                admin_ctx, f"bench.links.{role.value}", BENCH_PASSWORD, role, reception.lab_id
            )
            for role in (Role.TECHNICIAN, Role.BIOLOGIST)
        }
        self.technician = context_for(made[Role.TECHNICIAN], Purpose.CARE, "benchmark")
        self.biologist = context_for(made[Role.BIOLOGIST], Purpose.CARE, "benchmark")
        self.catalog: Catalog = platform.catalogs.active(reception.lab_id)

    def entries(self, order: OrderRecord) -> list[ResultEntry]:
        return [ResultEntry(i.id, _normal(self.catalog.test(i.test_code))) for i in order.items]

    def order(self, patient: uuid.UUID) -> OrderRecord:
        request = OrderRequest(patient_id=patient, panels=("NFS",), tests=("GLU",))
        record = self.platform.orders.create(self.reception, request)
        for specimen in record.specimens:
            self.platform.specimens.receive(self.reception, specimen.barcode)
        return record

    def worked(self, patient: uuid.UUID) -> OrderRecord:
        """An order with every result entered and validated."""
        record = self.order(patient)
        entries = self.entries(record)
        self.platform.results.enter(self.technician, entries)
        items = [e.item_id for e in entries]
        self.platform.results.validate_technical(self.technician, items)
        self.platform.results.validate_biological(self.biologist, items)
        return self.platform.orders.get(self.biologist, record.id)


def _timed(action: Callable[[], object]) -> int:
    started = time.perf_counter_ns()
    action()
    return time.perf_counter_ns() - started


def pair(
    number: int, action: Callable[[], object], off: Callable[[], object] | None = None
) -> tuple[int, int]:
    """(sealed, unsealed) durations of one call each, the first arm alternating."""

    def sealed() -> int:
        return _timed(action)

    def plain() -> int:
        with unsealed():
            return _timed(off or action)

    if number % 2:
        first = sealed()
        return first, plain()
    second = plain()
    return sealed(), second


def run(backend: str, patients: int, calls: int, pg_url: str) -> dict[str, Any]:
    with bench_platform(backend, pg_url) as env:
        platform = env.platform
        lab = Lab(platform, env.ctx)
        people = [
            platform.patients.register(env.ctx, data, accept_homonym=True).id
            for data in generate_patients(patients * 2, 7, log)
        ]
        readers, writers = people[:patients], people[patients:]
        log(f"{patients} worked orders for the reads")
        worked = [lab.worked(p) for p in readers]
        samples: dict[str, list[tuple[int, int]]] = {
            "orders.get": [],
            "reports.history": [],
            "results.versions": [],
            "orders.create": [],
            "results.enter (14 results)": [],
        }
        log(f"{calls} calls per measure and arm")
        bio, tech, reception = lab.biologist, lab.technician, lab.reception
        for n in range(calls):
            order = worked[n % len(worked)]
            item = order.items[n % len(order.items)].id
            patient = writers[n % len(writers)]
            fresh_on, fresh_off = lab.order(patient), lab.order(patient)  # untimed, both sealed
            timed: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
                "orders.get": (partial(platform.orders.get, bio, order.id), None),
                "reports.history": (partial(platform.reports.history, bio, order.patient_id), None),
                "results.versions": (partial(platform.results.versions, bio, item), None),
                "orders.create": (
                    partial(platform.orders.create, reception, OrderRequest(patient, ("GLU",), ("NFS",))),
                    None,
                ),
                "results.enter (14 results)": (
                    partial(platform.results.enter, tech, lab.entries(fresh_on)),
                    partial(platform.results.enter, tech, lab.entries(fresh_off)),
                ),
            }
            for name, (action, off) in timed.items():
                samples[name].append(pair(n, action, off))
        keys = _keyset(platform, lab.reception)
        values = {
            "order_id": uuid.uuid4(),
            "restricted": False,
            "specimen_id": uuid.uuid4(),
            "current_result_id": None,
        }
        names = sorted(values)
        started = time.perf_counter_ns()
        for _ in range(20_000):
            keys.links.seal("order_items", uuid.uuid4(), names, values)
        seal_us = (time.perf_counter_ns() - started) / 20_000 / 1_000
        return {
            "backend": backend,
            "machine": machine_info(backend, pg_url),
            "patients": patients,
            "calls": calls,
            "seal_us": seal_us,
            "measures": {
                name: {
                    "sealed": latency_summary([s for s, _ in values_]),
                    "unsealed": latency_summary([u for _, u in values_]),
                }
                for name, values_ in samples.items()
            },
        }


def _keyset(platform: Platform, ctx: AccessContext) -> Any:
    assert ctx.lab_id is not None
    with platform.db.transaction(ctx.lab_id) as session:
        return platform.keys.keyset(session, ctx.lab_id)


def table(result: dict[str, Any]) -> str:
    lines = [
        f"### Row-link seals ({result['backend']}, {result['calls']} calls per arm, "
        f"one HMAC-SHA256 seal: {result['seal_us']:.1f} µs)",
        "",
        "| call | sealed p50 ms | unsealed p50 ms | sealed mean ms | unsealed mean ms | mean ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, arms in result["measures"].items():
        on, off = arms["sealed"], arms["unsealed"]
        lines.append(
            f"| {name} | {on['p50_ms']:.3f} | {off['p50_ms']:.3f} | {on['mean_ms']:.3f} "
            f"| {off['mean_ms']:.3f} | {on['mean_ms'] / off['mean_ms']:.3f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from benchmarks.run import parse_count

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bound_links", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--patients", type=parse_count, default=60, help="worked orders read back")
    parser.add_argument("--calls", type=parse_count, default=200, help="timed calls per measure and arm")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.backend, args.patients, args.calls, args.pg_url)
    print(table(result))
    write_results(result, "bound-links", args.backend, args.output)


if __name__ == "__main__":
    main()
