"""``labvault astm`` as a process, on both engines: it says where it listens, an analyzer's message
lands through it; and it serves loopback only."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

from typer.testing import CliRunner

from labvault.cli import app
from labvault.interop.astm.frames import frames_for_records
from labvault.platform import Platform
from tests.factories import Bench
from tests.interop.astm.support import ACK, Analyzer, records

READY = re.compile(r"labvault astm: listening on 127\.0\.0\.1:(\d+) for (\S+)")


def test_the_command_listens_and_results_land(platform: Platform) -> None:
    bench = Bench.create(platform, "Laboratoire ASTM en service")
    account = bench.interface()
    order = bench.order(tests=["K"])
    settings = platform.settings
    command = [sys.executable, "-m", "labvault.cli", "astm", "--account", account.username, "--port", "0"]
    command += ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
    if settings.database_url:
        command += ["--database-url", settings.database_url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        ready = READY.search(process.stdout.readline())
        assert ready and ready.group(2) == account.username
        message = records(order.specimens[0].barcode, "R|1|^^^K|3.9|mmol/L||||F")
        with Analyzer(int(ready.group(1))) as analyzer:
            assert set(analyzer.transfer(frames_for_records(message))) == {ACK}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
    result = bench.result(order.id, "K")
    assert result is not None and result.value == "3.9" and result.status == "entered"


def test_the_command_serves_loopback_only() -> None:
    result = CliRunner().invoke(app, ["astm", "--account", "x", "--port", "0", "--host", "0.0.0.0"])  # noqa: S104
    assert result.exit_code == 2 and "loopback" in result.output
