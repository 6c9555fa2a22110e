"""`make bench` must keep working: the quick benchmark run, end to end, on the real code path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(output.read_text())
    assert figures["registration"]["bulk"]["encrypted_rows_per_s"] > 0
    assert figures["lookup"]["sizes"][0]["encrypted"]["n"] > 0
    workflow = figures["workflow"]
    assert workflow["entry"]["encrypted"]["n"] == 2 and workflow["entry"]["batch"] > 0
    assert workflow["validation"]["encrypted"]["n"] == 2
    assert workflow["reports"]["render_pdf"]["n"] >= 1 and workflow["reports"]["pdf_bytes_p50"] > 0


def test_issue_10_cost_benchmarks_run(tmp_path: Path) -> None:
    """The row-link and canary/refusal benchmarks (docs/BENCHMARKS.md) still run, at a toy size."""
    for module, options in (
        (
            "benchmarks.bound_links",
            ["--patients", "2", "--calls", "3", "--output", str(tmp_path / "bl.json")],
        ),
        ("benchmarks.canary_refusals", ["--rounds", "3"]),
    ):
        result = subprocess.run(
            [sys.executable, "-m", module, *options], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (module, result.stderr[-2000:])
        assert "before/after" in result.stderr or "sealed" in result.stdout, module
    assert json.loads((tmp_path / "bl.json").read_text())
