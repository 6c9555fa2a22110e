"""The MLLP ingestion benchmark (benchmarks/mllp_ingest.py) keeps working: a few messages on SQLite
through a real ``labvault mllp`` and the bare MLLP server, from one and from eight senders, every
ACK ``MSA|AA`` and ten results stored per acknowledged message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks import mllp_ingest


def test_quick_ingestion_on_sqlite() -> None:
    config = replace(mllp_ingest.QUICK, backends=("sqlite",), connections=(1, 8), messages=8, warmup=2)
    document = mllp_ingest.run(config)  # raises on any ACK that is not AA, or results missing
    rows = document["rows"]
    assert [(row["backend"], row["connections"]) for row in rows] == [("sqlite", 1), ("sqlite", 8)]
    for row in rows:
        assert row["messages"] == 8
        assert row["messages_per_s"] > 0 and row["bare_messages_per_s"] > 0
        assert row["results_per_s"] == pytest.approx(row["messages_per_s"] * mllp_ingest.RESULTS_PER_MESSAGE)
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["labvault"]["latency"]["n"] == row["bare"]["latency"]["n"] == 8
    verified = document["setup"]["sqlite"]["verified"]
    assert verified == {"messages": 18, "labvault_results": 180, "bare_rows": 18}
    table = mllp_ingest.markdown(document)
    assert "| sqlite | 8 | 8 |" in table and "labvault / bare" in table
