"""A database error's text never quotes the statement's parameters: it ends up in logs and
tracebacks (an interface listener logs the error's type only, for the same reason)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from labvault.store.engine import make_engine

MARKER = "Qzhidden DUPONT Jeanne"


def test_an_integrity_error_does_not_quote_its_parameters(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hidden.sqlite3'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x TEXT UNIQUE)"))
            connection.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": MARKER})
        with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
            connection.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": MARKER})
        assert "UNIQUE" in str(raised.value)
        assert MARKER not in str(raised.value)
    finally:
        engine.dispose()
