"""The FHIR search benchmark (benchmarks/fhir_search.py) keeps working: its quick core on SQLite,
a real ``labvault serve`` and the bare app under wrk, 20 Observations per answer, every answer 2xx
with the read budgets on."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from benchmarks import fhir_search
from tests.conftest import IN_CI


def test_quick_fhir_search_on_sqlite() -> None:
    if shutil.which("wrk") is None and not IN_CI:
        pytest.skip("wrk is not installed (Debian package wrk, which scripts/test-deps.sh installs as root)")
    config = replace(fhir_search.QUICK, backends=("sqlite",), connections=(1,), duration=2, warmup=1)
    document = fhir_search.run(config)  # raises on any answer that is not 2xx
    [row] = document["rows"]
    assert row["connections"] == 1 and row["searches_per_s"] > 0 and row["bare_searches_per_s"] > 0
    assert row["labvault"]["requests"] > 0 and row["labvault"]["non_2xx"] == 0 and row["bare"]["non_2xx"] == 0
    assert "| sqlite | 1 |" in fhir_search.markdown(document)
