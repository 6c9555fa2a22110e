"""No acknowledged message is lost and none is applied twice: ``labvault mllp`` killed with SIGKILL
in the middle of a stream (one message sent, its acknowledgement not read), restarted, and every
message not acknowledged sent again; each tube ends with exactly one result per test, each control
id with one accepted record, and the audit log verifies.

The stream is 300 messages in the suite, which must stay under 15 minutes (result entry takes
~20-40 ms per message today, docs/BENCHMARKS.md); ``make soak`` runs it with the 5,000 the issue
asks (``LABVAULT_KILL_STREAM``). The property does not depend on the count, only on where the kill
falls, which is after a message is sent and before its ACK."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from hl7.client import MLLPClient
from sqlalchemy import func, select

from labvault.identity.accounts import context_for
from labvault.interop.models import ACCEPTED, InterfaceMessage
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from labvault.workflow.models import Result
from tests.factories import DESK, GIVEN_PASSWORD, Bench

STREAM = int(os.environ.get("LABVAULT_KILL_STREAM", "300"))
KILL_AFTER = STREAM * 2 // 5  # acknowledged messages before the kill
READY = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


@contextmanager
def listener(platform: Platform, account: str) -> Iterator[subprocess.Popen[str]]:
    settings = platform.settings
    command = [sys.executable, "-m", "labvault.cli", "mllp", "--account", account, "--port", "0"]
    command += ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
    if settings.database_url:
        command += ["--database-url", settings.database_url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def port_of(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    for _ in range(50):
        line = process.stdout.readline()
        found = READY.search(line)
        if found:
            return int(found.group(1))
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"the listener did not start (exit {process.poll()})")


def message(number: int, barcode: str) -> bytes:
    segments = [
        f"MSH|^~\\&|COBAS|BENCH1|LABVAULT|LAB|20261207083000||ORU^R01^ORU_R01|K{number:05d}|P|2.5.1",
        "PID|1||",
        f"OBR|1||{barcode}|24323-8^Panel^LN",
        f"OBX|1|NM|2823-3^Potassium^LN||{3.5 + number % 10 / 10:.1f}|mmol/L|||||F",
        f"OBX|2|NM|2951-2^Sodium^LN||{135 + number % 5}|mmol/L|||||F",
        f"SPM|1|^{barcode}",
    ]
    return ("\r".join(segments) + "\r").encode()


def test_kill_9_mid_stream_loses_no_acknowledged_message_and_applies_none_twice(
    fresh_platform: Platform,
) -> None:
    platform = fresh_platform
    bench = Bench.create(platform, "Laboratoire du flux")
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    account = platform.accounts.create_user(
        admin, f"stream-{uuid.uuid4().hex[:6]}", GIVEN_PASSWORD, Role.INTERFACE, bench.lab.id
    )
    orders = [bench.order(tests=["K", "NA"]) for _ in range(STREAM)]
    stream = [message(n, order.specimens[0].barcode) for n, order in enumerate(orders)]
    acknowledged: set[int] = set()
    with listener(platform, account.username) as process, MLLPClient("127.0.0.1", port_of(process)) as client:
        for number in range(KILL_AFTER):
            assert b"MSA|AA|" in client.send_message(stream[number])
            acknowledged.add(number)
        client.socket.send(b"\x0b" + stream[KILL_AFTER] + b"\x1c\r")  # sent, its ACK never read
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    with listener(platform, account.username) as process, MLLPClient("127.0.0.1", port_of(process)) as client:
        for number in range(KILL_AFTER, STREAM):
            ack = client.send_message(stream[number])
            assert f"MSA|AA|K{number:05d}".encode() in ack, ack
            acknowledged.add(number)
    assert acknowledged == set(range(STREAM))
    table, results = InterfaceMessage.__table__, Result.__table__
    with platform.db.owner_engine.connect() as connection:
        accepted = connection.execute(
            select(table.c.control_id, func.count())
            .where(table.c.lab_id == bench.lab.id, table.c.state == ACCEPTED)
            .group_by(table.c.control_id)
        ).all()
        versions = connection.execute(
            select(func.count(), func.max(results.c.version)).where(results.c.lab_id == bench.lab.id)
        ).one()
    assert {control: count for control, count in accepted} == {f"K{n:05d}": 1 for n in range(STREAM)}
    assert tuple(versions) == (2 * STREAM, 1), "one result per test and tube, none entered twice"
    verified = platform.audit.verify()
    assert verified.ok, verified.problems
