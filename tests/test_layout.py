"""Keys and data never travel together, whatever ``--database-url`` says (issue 10, finding 10).

The probe ran ``init --key-dir dbdir/keys --database-url sqlite:///dbdir/lab.sqlite3``: accepted,
and a copy of ``dbdir`` held the database and the key that opens it. Every layout where the key
(or checkpoint) directory and the SQLite database file's directory overlap is refused, with a
message naming the problem, before any key is written; database files are created 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labvault.cli import app
from labvault.config import Settings
from labvault.errors import ConfigurationError
from labvault.platform import check_layout, initialise, open_platform
from labvault.store.engine import sqlite_file

runner = CliRunner()


def init(tmp_path: Path, key_dir: Path, database: Path, **env: str) -> tuple[int, str]:
    args = ["init", "--data-dir", str(tmp_path / "data"), "--key-dir", str(key_dir)]
    result = runner.invoke(app, [*args, "--database-url", f"sqlite:///{database}"], env=env)
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("keys", "database", "problem"),
    [
        # The probe's layout: the key dir inside the directory holding the database file.
        ("dbdir/keys", "dbdir/lab.sqlite3", "must not be inside the directory holding the SQLite"),
        # The database file inside the key dir, directly or deeper.
        ("keys", "keys/lab.sqlite3", "must not be inside the key directory"),
        ("keys", "keys/sub/lab.sqlite3", "must not be inside the key directory"),
        # The key dir deeper inside the database's directory.
        ("dbdir/a/b/keys", "dbdir/lab.sqlite3", "must not be inside the directory holding the SQLite"),
    ],
)
def test_init_refuses_keys_overlapping_the_database_file(
    tmp_path: Path, keys: str, database: str, problem: str
) -> None:
    (tmp_path / database).parent.mkdir(parents=True, exist_ok=True)
    code, output = init(tmp_path, tmp_path / keys, tmp_path / database)
    assert code == 2, output
    assert problem in output and "key directory" in output, output
    assert not (tmp_path / keys / "root.key").exists()
    assert not (tmp_path / database).exists()


def test_init_refuses_checkpoints_beside_the_database_file(tmp_path: Path) -> None:
    """The signed checkpoints are what a thief with the database cannot rewrite: not beside it."""
    (tmp_path / "dbdir").mkdir()
    code, output = init(
        tmp_path,
        tmp_path / "keys",
        tmp_path / "dbdir" / "lab.sqlite3",
        LABVAULT_CHECKPOINT_DIR=str(tmp_path / "dbdir" / "audit"),
    )
    assert code == 2, output
    assert "audit checkpoint directory" in output and "holding the SQLite" in output, output
    assert not (tmp_path / "keys" / "root.key").exists()


def test_open_refuses_the_layout_too(tmp_path: Path) -> None:
    """A platform initialised elsewhere, then pointed at a database inside its key dir."""
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    initialise(settings)
    moved = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'keys' / 'lab.sqlite3'}"})
    with pytest.raises(ConfigurationError, match="must not be inside the key directory"):
        open_platform(moved)


def test_a_symlinked_key_dir_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "dbdir" / "keys").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "dbdir" / "keys")
    settings = Settings(
        data_dir=tmp_path / "data",
        key_dir=tmp_path / "link",
        database_url=f"sqlite:///{tmp_path / 'dbdir' / 'lab.sqlite3'}",
    )
    with pytest.raises(ConfigurationError, match="holding the SQLite database file"):
        check_layout(settings)


def test_separate_directories_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "dbdir").mkdir()
    code, output = init(tmp_path, tmp_path / "keys", tmp_path / "dbdir" / "lab.sqlite3")
    assert code == 0, output
    assert (tmp_path / "keys" / "root.key").exists()


def test_postgresql_and_memory_urls_have_no_file() -> None:
    assert sqlite_file("postgresql://u@127.0.0.1/db") is None
    assert sqlite_file("sqlite://") is None and sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite:////srv/db/lab.sqlite3") == Path("/srv/db/lab.sqlite3")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_are_owner_only(tmp_path: Path) -> None:
    """Under the usual umask (022) SQLite would create them 0644: readable by every local user."""
    old = os.umask(0o022)
    try:
        settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
        initialise(settings)
        platform = open_platform(settings)
        try:
            with platform.db.engine.connect() as conn:  # the WAL and its index exist while open
                database = tmp_path / "data" / "labvault.sqlite3"
                files = [database, database.with_name(database.name + "-wal")]
                files.append(database.with_name(database.name + "-shm"))
                assert all(f.exists() for f in files), files
                assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
                assert conn.closed is False
        finally:
            platform.close()
    finally:
        os.umask(old)


def test_a_readable_database_left_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    initialise(settings)
    database = tmp_path / "data" / "labvault.sqlite3"
    database.chmod(0o644)
    open_platform(settings).close()
    assert mode(database) == 0o600
