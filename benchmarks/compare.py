"""Before/after: run the same benchmarks on an earlier commit and on this tree, in one run.

``python -m benchmarks.compare --before REV [--rounds 3] -- <benchmarks.run options>``

The machines are shared and noisy, so absolute times drift between runs: a change is judged by
the ratio of its figures to a baseline measured in the same run. The earlier commit is checked out
in a temporary worktree; rounds alternate before and after (before, after, before, after, ...) so
that a burst of load falls on both. Each side runs its own ``benchmarks.run`` on its own ``src/``.
Prints a markdown table of every median (``p50_ms``) and throughput (``*_per_s``) figure: the
median over the rounds of each side, and after / before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import log

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("p50_ms", "_per_s")


def figures(result: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every median time and throughput in a ``benchmarks.run`` JSON result, by its dotted path."""
    if isinstance(result, dict):
        for key, value in result.items():
            yield from figures(value, f"{path}.{key}" if path else str(key))
    elif isinstance(result, list):
        for index, value in enumerate(result):
            yield from figures(value, f"{path}[{index}]")
    elif (
        isinstance(result, int | float)
        and not isinstance(result, bool)
        and path.endswith(FIGURES)
        and not path.startswith(("plan.", "machine."))
    ):
        yield path, float(result)


def run_once(tree: Path, options: Sequence[str], output: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
    command = [sys.executable, "-m", "benchmarks.run", *options, "--output", str(output)]
    subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    return dict(figures(json.loads(output.read_text())))


def table(before: list[dict[str, float]], after: list[dict[str, float]]) -> str:
    lines = ["| figure | before | after | after / before |", "|---|---:|---:|---:|"]
    for name in sorted(set(before[0]) & set(after[0])):
        b = statistics.median(run[name] for run in before if name in run)
        a = statistics.median(run[name] for run in after if name in run)
        ratio = f"{a / b:.2f}" if b else "n/a"
        lines.append(f"| {name} | {b:,.2f} | {a:,.2f} | {ratio} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, alternated")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="-- then benchmarks.run options")
    args = parser.parse_args(argv)
    options = [o for o in args.options if o != "--"]
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds: 1 to 20")
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.before], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="labvault-before-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), revision], cwd=ROOT, check=True
        )
        try:
            before: list[dict[str, float]] = []
            after: list[dict[str, float]] = []
            for round_ in range(1, args.rounds + 1):
                log(f"round {round_}/{args.rounds}: before ({revision})")
                before.append(run_once(tree, options, Path(scratch) / f"before-{round_}.json"))
                log(f"round {round_}/{args.rounds}: after (this tree)")
                after.append(run_once(ROOT, options, Path(scratch) / f"after-{round_}.json"))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    print(
        f"before: `{revision}`, after: this tree, {args.rounds} round(s) each, alternated; options: {options}"
    )
    print()
    print(table(before, after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
