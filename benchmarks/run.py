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

from benchmarks import lookup, profiling, registration, workflow
from benchmarks.common import DEFAULT_PG_ADMIN_URL, RESULTS_DIR, log, machine_info


@dataclass(frozen=True)
class Plan:
    """What to run, after --quick defaults and explicit options are merged."""

    register_size: int
    single: int
    sizes: tuple[int, ...]
    lookups: int
    warmup: int
    results_batch: int
    entry_batches: int
    worklist: int
    worklists: int
    reports: int
    report_warmup: int
    history_depth: int
    lab_sizes: tuple[int, ...]


FULL = Plan(
    register_size=100_000,
    single=2_000,
    sizes=(10_000, 100_000, 500_000),
    lookups=2_000,
    warmup=200,
    results_batch=1_000,
    entry_batches=10,
    worklist=300,
    worklists=20,
    reports=30,
    report_warmup=2,
    history_depth=20,
    lab_sizes=(100_000, 300_000, 1_000_000),
)
QUICK = Plan(
    register_size=5_000,
    single=200,
    sizes=(2_000, 5_000),
    lookups=200,
    warmup=50,
    results_batch=100,
    entry_batches=2,
    worklist=50,
    worklists=2,
    reports=1,
    report_warmup=1,
    history_depth=0,
    lab_sizes=(),
)


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


def parse_optional_sizes(text: str) -> tuple[int, ...]:
    """Like :func:`parse_sizes`; ``none`` (or ``0``) for none at all."""
    return () if text.strip().lower() in ("", "0", "none") else parse_sizes(text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 60 s)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--only",
        choices=("all", "registration", "lookup", "workflow"),
        default="all",
        help="run one benchmark",
    )
    parser.add_argument("--sizes", type=parse_sizes, help="lookup sizes, e.g. 10k,100k,500k")
    parser.add_argument("--register-size", type=parse_count, help="patients for bulk registration")
    parser.add_argument("--single", type=parse_count, help="patients registered one by one")
    parser.add_argument("--lookups", type=parse_count, help="timed lookups per size")
    parser.add_argument(
        "--results-batch", type=parse_count, help="results per enter() batch (whole orders of 20)"
    )
    parser.add_argument("--entry-batches", type=parse_count, help="timed results entry batches")
    parser.add_argument("--worklist", type=parse_count, help="results per biological validation")
    parser.add_argument("--worklists", type=parse_count, help="timed biological validations")
    parser.add_argument("--reports", type=parse_count, help="timed report releases and renders")
    parser.add_argument(
        "--lab-sizes",
        type=parse_optional_sizes,
        help="results in the lab for the workflow size test, e.g. 100k,300k,1m (none: skip)",
    )
    parser.add_argument(
        "--history-depth",
        type=int,
        help="validated earlier orders per patient for the history test (0: skip)",
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile the measured paths (top costs)")
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
        results_batch=args.results_batch or base.results_batch,
        entry_batches=args.entry_batches or base.entry_batches,
        worklist=args.worklist or base.worklist,
        worklists=args.worklists or base.worklists,
        reports=args.reports or base.reports,
        report_warmup=base.report_warmup,
        history_depth=base.history_depth if args.history_depth is None else args.history_depth,
        lab_sizes=base.lab_sizes if args.lab_sizes is None else args.lab_sizes,
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


def workflow_table(result: dict[str, Any]) -> str:
    entry, validation, reports, goal = (
        result["entry"],
        result["validation"],
        result["reports"],
        result["goal"],
    )
    setup = result["setup"]
    order = " + ".join(result["order"]["panels"] + result["order"]["tests"])
    lines = [
        f"### Workflow ({result['backend']}, {result['patients']} adult patients, orders of "
        f"{result['items_per_order']} results: {order})",
        "",
        "| step | n | size | p50 ms | p95 ms | µs per result (p50) | plaintext p50 ms | p95 ms "
        "| ratio (p50) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, step, size in (
        ("`results.enter` vs Core executemany", entry, entry["batch"]),
        ("`validate_biological` vs UPDATE … IN", validation, validation["worklist"]),
    ):
        e, p = step["encrypted"], step["plain"]
        lines.append(
            f"| {label} | {e['n']} | {size:,} | {e['p50_ms']:.1f} | {e['p95_ms']:.1f} "
            f"| {step['encrypted_us_per_result']:.0f} | {p['p50_ms']:.2f} | {p['p95_ms']:.2f} "
            f"| {step['ratio_p50']:.1f}x |"
        )
    lines += [
        "",
        f"Critical values: {entry['critical_per_batch']:.1f} per entry batch, "
        f"{validation['critical_per_worklist']:.1f} per worklist (calls recorded before validation). "
        f"Untimed setup: order creation {setup['order_create_ms']:.1f} ms, tube reception "
        f"{setup['tube_receive_ms']:.1f} ms each.",
        "",
        f"| report of {reports['results_per_report']} results | n | p50 ms | p95 ms | per s (p50) "
        "| ratio to HTML (p50) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key, rate, ratio in (
        ("`reports.release` (end to end)", "release", "release_per_s", "ratio_release_html_p50"),
        ("`render_report_pdf` (prebuilt view)", "render_pdf", "pdf_per_s", "ratio_pdf_html_p50"),
        ("`render_report_html` (same view)", "render_html", "html_per_s", None),
    ):
        s = reports[key]
        shown = f"{reports[ratio]:.0f}x" if ratio else "1x"
        lines.append(
            f"| {label} | {s['n']} | {s['p50_ms']:.2f} | {s['p95_ms']:.2f} | {reports[rate]:,.1f} | {shown} |"
        )
    lines += ["", f"PDF size p50: {reports['pdf_bytes_p50']:,} bytes.", ""]
    history = result.get("history")
    if history:
        lines += [
            f"| `results.enter`, {history['batch']:,} results, patients' validated earlier orders "
            "| n | p50 ms | p95 ms |",
            "|---|---:|---:|---:|",
            f"| 1 each | {history['shallow']['n']} | {history['shallow']['p50_ms']:.1f} "
            f"| {history['shallow']['p95_ms']:.1f} |",
            f"| {history['depth']} each | {history['deep']['n']} | {history['deep']['p50_ms']:.1f} "
            f"| {history['deep']['p95_ms']:.1f} |",
            "",
            f"Growth with the history (p50): {history['growth_p50']:.2f}x.",
            "",
        ]
    if result.get("lab_sizes"):
        lines += [
            f"| results in the lab | `enter` {entry['batch']:,} p50 / p95 ms | < 2 s? "
            f"| `validate_biological` {validation['worklist']:,} p50 / p95 ms | < 1 s? |",
            "|---:|---:|---|---:|---|",
        ]
        for row, verdict in zip(result["lab_sizes"], goal["by_lab_size"], strict=True):
            e, v = row["enter"], row["validate_biological"]
            lines.append(
                f"| {row['results_in_lab']:,} | {e['p50_ms']:.0f} / {e['p95_ms']:.0f} "
                f"| {_yes(verdict['entry_met'])} | {v['p50_ms']:.0f} / {v['p95_ms']:.0f} "
                f"| {_yes(verdict['validation_met'])} |"
            )
        lines += [
            "",
            "(each size: a new group of patients with one validated earlier order; p95 for the verdict)",
            "",
        ]
    lines += [
        f"Goal — {goal['entry_text']}: p50 {goal['entry_p50_s']:.3f} s, p95 {goal['entry_p95_s']:.3f} s "
        f"→ {_yes(goal['entry_met'])}"
        + ("" if goal["entry_applies"] else " (indicative: this run is not the goal's size/backend)"),
        "",
    ]
    if history:
        lines += [
            f"Same goal with {goal['deep_history_depth']} validated earlier orders per patient: p50 "
            f"{goal['deep_history_p50_s']:.3f} s, p95 {goal['deep_history_p95_s']:.3f} s → "
            f"{_yes(goal['deep_history_met'])}"
            + ("" if goal["deep_history_applies"] else " (indicative: not the goal's size/backend)"),
            "",
        ]
    lines += [
        f"Goal — {goal['validation_text']}: p50 {goal['validation_p50_s']:.3f} s, p95 "
        f"{goal['validation_p95_s']:.3f} s → {_yes(goal['validation_met'])}"
        + ("" if goal["validation_applies"] else " (indicative: this run is not the goal's size/backend)"),
    ]
    return "\n".join(lines)


def _top_rows(top: list[dict[str, Any]]) -> list[str]:
    return [f"| {r['share_of_total']:.1%} | {r['calls']:,} | `{r['function']}` |" for r in top]


def profile_table(result: dict[str, Any]) -> str:
    lines: list[str] = []
    for key in ("register_many", "find_by_nir", "enter", "validate_biological", "release"):
        if key not in result:
            continue
        lines += [
            f"### cProfile: {key} (top own time)",
            "",
            "| share | calls | function |",
            "|---:|---:|---|",
        ]
        lines += _top_rows(result[key]["top"])
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
    if args.only in ("all", "workflow"):
        wconfig = workflow.WorkflowConfig(
            batch=plan.results_batch,
            repeats=plan.entry_batches,
            worklist=plan.worklist,
            worklists=plan.worklists,
            reports=plan.reports,
            report_warmup=plan.report_warmup,
            history_depth=plan.history_depth,
            lab_sizes=plan.lab_sizes,
            profile=args.profile,
        )
        document["workflow"] = workflow.run(args.backend, wconfig, args.pg_url)
        sections.append(workflow_table(document["workflow"]))
    if args.profile:
        profiles: dict[str, Any] = {}
        if args.only in ("all", "registration", "lookup"):
            profiles.update(profiling.run(args.backend, args.pg_url))
        profiles.update(document.get("workflow", {}).pop("profile", {}))
        document["profile"] = profiles
        sections.append(profile_table(profiles))
    document["duration_s"] = round(time.perf_counter() - started, 1)
    path = write_results(document, args.output)
    print("\n\n".join(sections))
    print(f"\nTotal {document['duration_s']:.0f} s; results written to {path}")
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
