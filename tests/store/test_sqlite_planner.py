"""SQLite's planner must look lab rows up by primary key, not scan the lab through ``lab_id``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from labvault.schema import metadata, upgrade
from labvault.store.engine import make_engine
from labvault.store.sqlite_planner import seed_planner_stats


def plan(db: Path, sql: str, params: tuple[object, ...]) -> str:
    with sqlite3.connect(db) as conn:
        return " ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_lookups_of_many_ids_use_the_primary_key(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    upgrade(f"sqlite:///{db}")
    ids = ",".join("?" * 300)
    for table in ("results", "order_items", "patients", "specimens"):
        found = plan(db, f"SELECT * FROM {table} WHERE id IN ({ids}) AND lab_id = ?", tuple(range(301)))
        assert f"sqlite_autoindex_{table}_1" in found, f"{table}: {found}"
    worklist = plan(
        db, "SELECT * FROM order_items WHERE section = ? AND status IN (?, ?) AND lab_id = ?", (1, 2, 3, 4)
    )
    assert "ix_order_items_worklist" in worklist


def test_seeding_is_idempotent_and_keeps_measured_statistics(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    upgrade(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sqlite_stat1 SET stat = '42 7' WHERE idx = 'ix_results_lab_id'")
    engine = make_engine(f"sqlite:///{db}")
    try:
        assert seed_planner_stats(engine, metadata()) == 0
    finally:
        engine.dispose()
    with sqlite3.connect(db) as conn:
        stat = conn.execute("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_results_lab_id'").fetchone()
    assert stat == ("42 7",)
