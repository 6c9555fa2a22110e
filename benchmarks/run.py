"""Run the labvault benchmarks: ``python -m benchmarks.run [--quick] [--backend sqlite|postgresql]``.

Prints markdown tables on stdout (progress on stderr) and writes the full results as JSON to
``benchmarks/results/`` (gitignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import lookup, profiling, registration
from benchmarks.common import DEFAULT_PG_ADMIN_URL, log, machine_info

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Plan:
    """What to run, after --quick defaults and explicit options are merged."""

    register_size: int
    single: int
    sizes: tuple[int, ...]
    lookups: int
    warmup: int


FULL = Plan(register_size=100_000, single=2_000, sizes=(10_000, 100_000, 500_000), lookups=2_000, warmup=200)
QUICK = Plan(register_size=5_000, single=200, sizes=(2_000, 5_000), lookups=200, warmup=50)


def parse_count(text: str) -> int:
    """``2000``, ``2_000``, ``2k`` or ``1.5m``."""
    value = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(value[-1:], 1)
    if scale != 1:
        value = value[:-1]
    count = int(float(value) * scale)
    if count <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive count")
    return count


def parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(sorted({parse_count(part) for part in text.split(",") if part.strip()}))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 60 s)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--only", choices=("all", "registration", "lookup"), default="all", help="run one benchmark"
    )
    parser.add_argument("--sizes", type=parse_sizes, help="lookup sizes, e.g. 10k,100k,500k")
    parser.add_argument("--register-size", type=parse_count, help="patients for bulk registration")
    parser.add_argument("--single", type=parse_count, help="patients registered one by one")
    parser.add_argument("--lookups", type=parse_count, help="timed lookups per size")
    parser.add_argument("--profile", action="store_true", help="also cProfile both paths (top costs)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--output", type=Path, help="JSON results path (default: benchmarks/results/)")
    return parser.parse_args(argv)


def plan_from(args: argparse.Namespace) -> Plan:
    base = QUICK if args.quick else FULL
    return Plan(
        register_size=args.register_size or base.register_size,
        single=args.single or base.single,
        sizes=args.sizes or base.sizes,
        lookups=args.lookups or base.lookups,
        warmup=base.warmup,
    )


# --- markdown --------------------------------------------------------------------------------------


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def machine_table(info: dict[str, Any]) -> str:
    lines = ["| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in info.items()]
    return "\n".join(lines)


def registration_table(result: dict[str, Any]) -> str:
    bulk, single, goal = result["bulk"], result["single"], result["goal"]
    comp = result["components_per_patient"]
    lines = [
        f"### Registration ({result['backend']}, {bulk['rows']:,} patients, batches of {bulk['batch']:,})",
        "",
        "| path | rows | total s | rows/s | ratio vs plaintext |",
        "|---|---:|---:|---:|---:|",
        f"| register_many (encrypted, audited) | {bulk['rows']:,} | {bulk['encrypted_s']:.2f} "
        f"| {bulk['encrypted_rows_per_s']:,.0f} | {bulk['ratio']:.2f}x |",
        f"| plaintext Core executemany | {bulk['rows']:,} | {bulk['plain_s']:.2f} "
        f"| {bulk['plain_rows_per_s']:,.0f} | 1.00x |",
        "",
        "| one by one (1 tx each) | n | p50 ms | p95 ms | p99 ms | mean ms | rows/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key, rate in (
        ("register", "encrypted", "encrypted_rows_per_s"),
        ("plaintext insert", "plain", "plain_rows_per_s"),
    ):
        s = single[key]
        lines.append(
            f"| {label} | {s['n']:,} | {s['p50_ms']:.3f} | {s['p95_ms']:.3f} | {s['p99_ms']:.3f} "
            f"| {s['mean_ms']:.3f} | {single[rate]:,.0f} |"
        )
    lines += [
        "",
        f"One-by-one ratio (mean): {single['ratio_mean']:.2f}x. "
        "CPU per patient outside the database: "
        + ", ".join(f"{k.removesuffix('_us')} {v:.1f} µs" for k, v in comp.items())
        + ".",
        "",
        f"Goal — {goal['text']}: ratio {bulk['ratio']:.2f}x → met: {_yes(goal['met'])}"
        + ("" if goal["applies"] else " (indicative: this run is not the goal's size/backend)"),
    ]
    return "\n".join(lines)


def lookup_table(result: dict[str, Any]) -> str:
    goal = result["goal"]
    lines = [
        f"### Lookup by NIR ({result['backend']}, {result['lookups']:,} lookups per size, "
        f"{result['warmup']:,} warm-up)",
        "",
        "| patients | service p50 | p95 | p99 | plain SELECT p50 | p95 | p99 | p95 ratio | empty tx p50 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["sizes"]:
        e, p = row["encrypted"], row["plain"]
        lines.append(
            f"| {row['size']:,} | {e['p50_ms']:.3f} | {e['p95_ms']:.3f} | {e['p99_ms']:.3f} "
            f"| {p['p50_ms']:.3f} | {p['p95_ms']:.3f} | {p['p99_ms']:.3f} | {row['ratio_p95']:.1f}x "
            f"| {row['empty_transaction']['p50_ms']:.3f} |"
        )
    lines += [
        "",
        "(milliseconds; empty tx = `engine.begin()` with no statement: pool checkout or connect, "
        "BEGIN, COMMIT)",
        "",
        f"Goal — {goal['text']}: p95 at the largest size {goal['p95_last_ms']:.3f} ms → "
        f"{_yes(goal['p95_met'])}; growth {goal['growth_p95']:.2f}x → {_yes(goal['growth_met'])}"
        + ("" if goal["applies"] else " (indicative: sizes/backend differ from the goal's)"),
    ]
    return "\n".join(lines)


def profile_table(result: dict[str, Any]) -> str:
    lines: list[str] = []
    for key in ("register_many", "find_by_nir"):
        lines += [
            f"### cProfile: {key} (top own time)",
            "",
            "| share | calls | function |",
            "|---:|---:|---|",
        ]
        lines += [
            f"| {r['share_of_total']:.1%} | {r['calls']:,} | `{r['function']}` |" for r in result[key]["top"]
        ]
        lines.append("")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------


def write_results(document: dict[str, Any], output: Path | None) -> Path:
    if output is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        quick = "-quick" if document["quick"] else ""
        output = RESULTS_DIR / f"{stamp}-{document['machine']['backend']}{quick}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return output


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = plan_from(args)
    started = time.perf_counter()
    document: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "command": " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
        "plan": plan.__dict__,
        "machine": machine_info(args.backend, args.pg_url),
    }
    sections = [machine_table(document["machine"])]
    if args.only in ("all", "registration"):
        config = registration.RegistrationConfig(size=plan.register_size, single=plan.single)
        document["registration"] = registration.run(args.backend, config, args.pg_url)
        sections.append(registration_table(document["registration"]))
    if args.only in ("all", "lookup"):
        lconfig = lookup.LookupConfig(sizes=plan.sizes, lookups=plan.lookups, warmup=plan.warmup)
        document["lookup"] = lookup.run(args.backend, lconfig, args.pg_url)
        sections.append(lookup_table(document["lookup"]))
    if args.profile:
        document["profile"] = profiling.run(args.backend, args.pg_url)
        sections.append(profile_table(document["profile"]))
    document["duration_s"] = round(time.perf_counter() - started, 1)
    path = write_results(document, args.output)
    print("\n\n".join(sections))
    print(f"\nTotal {document['duration_s']:.0f} s; results written to {path}")
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
