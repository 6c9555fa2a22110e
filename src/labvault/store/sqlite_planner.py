"""Planner statistics for SQLite, so that lookups by primary key use the primary key.

Every query on a lab table carries ``lab_id = ?`` (store/tenancy.py). Without statistics, SQLite
guesses that an index on ``lab_id`` is selective and, for ``id IN (50 or more ids)``, scans the whole
lab through it instead of looking each id up: loading 300 results of a lab holding 1M cost a
second. ``ANALYZE`` would learn the truth, but only once the data is there; these rows state it up
front: a lab holds many rows, an id one. A real ``ANALYZE`` later replaces them with measured ones.
"""

from __future__ import annotations

from sqlalchemy import Engine, Index, MetaData, Table, text

ASSUMED_ROWS = 1_000_000
ASSUMED_ROWS_PER_LAB = 100_000
ASSUMED_ROWS_PER_KEY = 10


def _lab_tables(metadata: MetaData) -> list[Table]:
    return [t for t in metadata.sorted_tables if "lab_id" in t.columns and "id" in t.columns]


def _index_stat(index: Index) -> str:
    """``sqlite_stat1`` row: total rows, then rows per distinct value of each leading column prefix."""
    per_prefix: list[int] = []
    for position, column in enumerate(index.columns):
        if position == 0 and column.name == "lab_id":
            per_prefix.append(ASSUMED_ROWS_PER_LAB)
        elif index.unique and position == len(index.columns) - 1:
            per_prefix.append(1)
        else:
            per_prefix.append(ASSUMED_ROWS_PER_KEY)
    return " ".join(str(n) for n in (ASSUMED_ROWS, *per_prefix))


def seed_planner_stats(engine: Engine, metadata: MetaData) -> int:
    """Write assumed statistics for the indexes of the lab tables of ``metadata`` (labvault/schema.py)
    that have none yet; returns how many."""
    if engine.dialect.name != "sqlite":
        return 0
    written = 0
    with engine.begin() as conn:
        if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
            conn.exec_driver_sql("ANALYZE sqlite_master")  # creates sqlite_stat1, reads no table
        for table in _lab_tables(metadata):
            primary = conn.exec_driver_sql(
                "SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'", (table.name,)
            ).scalar()
            wanted = {str(index.name): _index_stat(index) for index in table.indexes if index.name}
            if primary:
                wanted[str(primary)] = f"{ASSUMED_ROWS} 1"
            for name, stat in wanted.items():
                known = conn.execute(
                    text("SELECT 1 FROM sqlite_stat1 WHERE tbl = :tbl AND idx = :idx"),
                    {"tbl": table.name, "idx": name},
                ).first()
                if known is None:
                    conn.execute(
                        text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (:tbl, :idx, :stat)"),
                        {"tbl": table.name, "idx": name, "stat": stat},
                    )
                    written += 1
    return written
