"""The HTTP read benchmark (benchmarks/api_reads.py) keeps working: the quick mode's core on SQLite,
a real ``labvault serve`` and the bare app under wrk, every answer 2xx with the read budgets on."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from benchmarks import api_reads
from tests.conftest import IN_CI


def test_quick_core_reads_on_sqlite() -> None:
    if shutil.which("wrk") is None and not IN_CI:
        pytest.skip("wrk is not installed (Debian package wrk, which scripts/test-deps.sh installs as root)")
    config = replace(api_reads.QUICK, backends=("sqlite",), workers=(1,), connections=(1,), duration=2)
    document = api_reads.run(config)  # raises on any answer that is not 2xx
    rows = document["rows"]
    assert {row["scenario"] for row in rows} == set(api_reads.SCENARIOS)
    for row in rows:
        assert row["connections"] == 1 and row["workers"] == 1
        assert row["reads_per_s"] > 0 and row["bare_reads_per_s"] > 0
        assert row["labvault"]["requests"] > 0 and row["labvault"]["non_2xx"] == 0
        assert row["bare"]["non_2xx"] == 0
