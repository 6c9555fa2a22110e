"""The labvault command line, end to end on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labvault.cli import app
from tests.conftest import BACKENDS, PgDatabase, require_pg

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def dirs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    args = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    if request.param == "postgresql":
        require_pg()
        pg = PgDatabase()
        pg.create()
        yield [*args, "--database-url", pg.url]
        pg.drop()
    else:
        yield args


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_init_refuses_key_dir_inside_data_dir(tmp_path: Path) -> None:
    code, output = run("init", "--data-dir", str(tmp_path / "d"), "--key-dir", str(tmp_path / "d" / "keys"))
    assert code == 2
    assert "must not be" in output and "data" in output
    assert not (tmp_path / "d" / "keys" / "root.key").exists()


def test_full_cli_tour(dirs: list[str], tmp_path: Path) -> None:
    code, output = run("demo", *dirs, "--labs", "2", "--patients", "40", "--no-serve")
    assert code == 0, output
    assert "DEMO1" in output and "demo1.reception" in output and "lvt_" in output
    creds = json.loads((tmp_path / "data" / "demo-credentials.json").read_text())
    assert len(creds["users"]) == 1 + 2 * 4
    assert oct((tmp_path / "data" / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"

    code, output = run("demo", *dirs, "--no-serve")
    assert code == 0 and "reusing" in output

    code, output = run("lab", "add", *dirs, "--code", "CLI1", "--name", "Labo CLI", "--finess", "000000000")
    assert code == 0, output
    code, output = run("lab", "add", *dirs, "--code", "CLI2", "--name", "Labo CLI", "--finess", "123456789")
    assert code == 2 and "finess" in output.lower()

    password = "un mot de passe assez long"
    code, output = run(
        "user", "add", *dirs, "--username", "alice.bio", "--role", "biologist", "--lab", "CLI1",
        "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert code == 2 and "first administrator" in output
    code, output = run(
        "user", "add", *dirs, "--username", "chloe.admin", "--role", "lab_admin", "--lab", "CLI1",
        "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert code == 0, output
    code, output = run(
        "user", "add", *dirs, "--username", "alice.bio", "--role", "biologist", "--lab", "CLI1",
        "--admin", "chloe.admin", "--password-stdin", input=password + "\n" + password + "\n",
    )  # fmt: skip
    assert code == 0, output
    code, output = run(
        "user", "add", *dirs, "--username", "accueil", "--role", "reception", "--lab", "CLI1",
        "--admin", "chloe.admin", "--password-stdin", input=password + "\n" + password + "\n",
    )  # fmt: skip
    assert code == 2 and "generic or shared" in output
    code, output = run(
        "user", "add", *dirs, "--username", "bob.bio", "--role", "biologist", "--lab", "NOPE",
        "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert code == 2 and "no laboratory with code 'NOPE'" in output

    code, output = run(
        "token", "create", *dirs, "--username", "alice.bio", "--password-stdin", input=password + "\n"
    )
    assert code == 0 and output.strip().splitlines()[0].startswith("lvt_")
    code, output = run(
        "token", "create", *dirs, "--username", "alice.bio", "--password-stdin", input="wrong\n"
    )
    assert code == 2 and "invalid username or password" in output

    code, output = run("keys", "rotate", *dirs, "--lab", "DEMO1")
    assert code == 0, output
    assert "version 2 is now active" in output and "Re-encrypted" in output

    code, output = run("audit", "checkpoint", *dirs)
    assert code == 0, output
    code, output = run("audit", "verify", *dirs)
    assert code == 0 and "audit log verified" in output

    code, output = run("lab", "shred", *dirs, "--lab", "DEMO2")
    assert code == 2 and "--yes" in output
    code, output = run("lab", "shred", *dirs, "--lab", "DEMO2", "--yes")
    assert code == 0 and "destroyed" in output


def test_options_from_environment(tmp_path: Path) -> None:
    env = {"LABVAULT_DATA_DIR": str(tmp_path / "data"), "LABVAULT_KEY_DIR": str(tmp_path / "keys")}
    result = runner.invoke(app, ["init"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "keys" / "root.key").exists()
    assert (tmp_path / "data" / "labvault.sqlite3").exists()
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 0 and "audit log verified" in result.output


def test_audit_verify_exit_code_on_tampering(tmp_path: Path) -> None:
    """The command an operator runs after an alert: exit 1 and the broken entry named."""
    import sqlite3

    dirs = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    assert run("demo", *dirs, "--labs", "1", "--patients", "5", "--no-serve")[0] == 0
    assert run("audit", "checkpoint", *dirs)[0] == 0
    db = sqlite3.connect(tmp_path / "data" / "labvault.sqlite3")
    db.execute("DROP TRIGGER audit_events_no_update")
    db.execute("UPDATE audit_events SET action = 'patient.read' WHERE chain != 'platform' AND chain_seq = 3")
    db.commit()
    db.close()
    code, output = run("audit", "verify", *dirs)
    assert code == 1
    assert "BROKEN" in output and "entry 3 was modified" in output
