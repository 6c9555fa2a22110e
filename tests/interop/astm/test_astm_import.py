"""``labvault astm-import`` on both engines: the LIS2-A2 example (plain records, its tube unknown
here) refused cleanly as a dead letter, a framed capture of two messages accepted and refused
message by message, and a file that cannot be read named without a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labvault.cli import app
from labvault.identity.accounts import Account
from labvault.interop.astm.frames import frames_for_records
from labvault.interop.models import REFUSED
from labvault.platform import Platform
from tests.factories import Bench
from tests.interop.astm.support import ENQ, EOT, corrupt, records, rows

TESTDATA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata"
EXAMPLE = TESTDATA / "astm" / "lis2a2-example-01.txt"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire ASTM importé")


@pytest.fixture(scope="module")
def account(bench: Bench) -> Account:
    return bench.interface()


def run(bench: Bench, *args: str) -> tuple[int, str]:
    settings = bench.platform.settings
    dirs = ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
    if settings.database_url:
        dirs += ["--database-url", settings.database_url]
    result = CliRunner().invoke(app, [*args, *dirs])
    return result.exit_code, result.output


def test_the_lis2a2_example_is_read_and_refused_cleanly(bench: Bench, account: Account) -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"LIS2-A2 example not found at {EXAMPLE} (expected ../shared/testdata/astm/)")
    code, output = run(bench, "astm-import", "--account", account.username, str(EXAMPLE))
    assert code == 0, output
    # Its test code (A1) is checked before its tube, and is not in the lab's catalogue either.
    assert re.search(r"^message 1: refused R\[1\]-3: unknown test code", output, re.M), output
    assert "927529" not in output  # the specimen id is data: never in the outcome
    [row] = [r for r in rows(bench, account.id) if r.error_location == "R[1]-3"]
    assert (row.state, row.error_location, len(row.control_id)) == (REFUSED, "R[1]-3", 64)


def test_a_capture_is_replayed_message_by_message(bench: Bench, account: Account, tmp_path: Path) -> None:
    order = bench.order(tests=["K"])
    good = frames_for_records(records(order.specimens[0].barcode, "R|1|^^^K|4.0|mmol/L||||F"))
    unknown = frames_for_records(records(f"NOSUCH{order.id.hex[:6]}", "R|1|^^^K|4.0|mmol/L||||F"))
    first = ENQ + good[0] + corrupt(good[1]) + b"".join(good[1:]) + EOT  # frame 2 sent twice
    capture = first + b"\r\n" + ENQ + b"".join(unknown) + EOT
    path = tmp_path / "capture.astm"
    path.write_bytes(capture)
    code, output = run(bench, "astm-import", "--account", account.username, str(path))
    assert code == 0, output
    assert "capture: frame 2: checksum does not match the frame's bytes" in output
    assert "message 1: accepted 1 results" in output
    assert "message 2: refused O[1]-3: " in output
    result = bench.result(order.id, "K")
    assert result is not None and result.value == "4.0" and result.status == "entered"


def test_an_unreadable_file_or_account_is_named(bench: Bench, account: Account, tmp_path: Path) -> None:
    code, output = run(bench, "astm-import", "--account", account.username, str(tmp_path / "missing.astm"))
    assert code == 2 and "cannot read" in output and "missing.astm" in output
    path = tmp_path / "empty.astm"
    path.write_bytes(b"")
    code, output = run(bench, "astm-import", "--account", "nobody-here", str(path))
    assert code == 2 and "no active interface account" in output
