"""The demo's credentials file sits beside the data directory, never inside (issue 10, finding 11).

It holds the demo accounts' passwords, tokens and TOTP secrets: a copy of the data directory (a
backup, a stolen disk image) must not carry them.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

from typer.testing import CliRunner

from labvault.cli import app
from labvault.demo.seed import (
    CREDENTIALS_FILE,
    DemoCredentials,
    credentials_path,
    read_credentials,
    write_credentials,
)

runner = CliRunner()
CREDS = DemoCredentials(users=[{"username": "demo1.reception"}], labs=[{"code": "DEMO1", "id": "x"}])


def test_beside_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "var" / "data"
    data.mkdir(parents=True)
    path = write_credentials(data, CREDS)
    assert path == credentials_path(data) == (tmp_path / "var" / CREDENTIALS_FILE).resolve()
    assert data.resolve() not in path.parents and not any(data.iterdir())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_credentials(data) == CREDS


def test_a_file_an_older_demo_left_inside_is_moved_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / CREDENTIALS_FILE).write_text(json.dumps({"users": CREDS.users, "labs": CREDS.labs}))
    assert read_credentials(data) == CREDS
    assert not (data / CREDENTIALS_FILE).exists() and credentials_path(data).exists()


def test_credentials_of_a_deleted_demo_are_not_reused(tmp_path: Path) -> None:
    """Deleting the data directory used to delete the credentials with it; now they survive it,
    so `demo` must tell they belong to another database, and seed again."""
    args = ["demo", "--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    args += ["--labs", "1", "--patients", "3", "--orders", "0", "--no-serve"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    shutil.rmtree(tmp_path / "data")  # a reset: data and keys go, the file beside them stays
    shutil.rmtree(tmp_path / "keys")
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "left by an earlier demo" in " ".join(again.output.split()), again.output
    assert "Seeding 1 synthetic laboratories" in again.output
    assert not (tmp_path / "data" / CREDENTIALS_FILE).exists()
