"""How many database connections `labvault serve --workers N` may open, and the warning when they
do not fit: each worker process has its own pools (the application's and, on PostgreSQL, the
owner's), so N workers need N times their maxima."""

from __future__ import annotations

import pytest

from labvault.cli.server import SQLITE_MOST_WORKERS, warn_about_workers
from labvault.config import Settings
from labvault.platform import Platform


def test_the_pools_follow_the_settings(platform: Platform) -> None:
    db = platform.db
    defaults = Settings()
    if db.dialect == "sqlite":
        assert db.connections_needed() == 0 and db.connections_allowed() is None
        return
    assert db.engine.pool.size() == defaults.database_pool_size == 10
    assert db.owner_engine.pool.size() == defaults.database_owner_pool_size
    # 40 for uvicorn's 40 request threads, 5 for maintenance: two workers fit PostgreSQL's default.
    assert db.connections_needed() == 45
    allowed = db.connections_allowed()
    assert allowed is not None and 2 * db.connections_needed() <= allowed


def test_serve_warns_when_the_workers_do_not_fit(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    warn_about_workers(platform, 1)
    assert capsys.readouterr().err == ""
    if platform.db.dialect == "sqlite":
        warn_about_workers(platform, SQLITE_MOST_WORKERS)
        assert capsys.readouterr().err == ""
        warn_about_workers(platform, SQLITE_MOST_WORKERS + 1)
        assert "one transaction writes at a time" in capsys.readouterr().err
        return
    allowed = platform.db.connections_allowed()
    assert allowed is not None
    warn_about_workers(platform, allowed // platform.db.connections_needed() + 1)
    assert "PostgreSQL connections" in " ".join(capsys.readouterr().err.split())
