"""One signer on schedule among several server processes: the holder of the lease beside the
checkpoints. The others sign only at their own stop, and take the lease over when its holder goes,
even killed (the kernel drops a dead process's lock)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from labvault.security.access import Role
from labvault.security.checkpoint_schedule import CheckpointSchedule
from labvault.security.signer_lease import SignerLease
from tests.factories import Factory
from tests.security.test_audit_tamper import touch


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = SignerLease(tmp_path), SignerLease(tmp_path)
    assert first.acquire() and first.acquire(), "taken, and held"
    assert not second.acquire()
    first.release()
    assert second.acquire() and second.held and not first.held
    second.release()


def test_a_killed_holder_leaves_the_lease_to_the_next(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib; from labvault.security.signer_lease import SignerLease; "
            "assert SignerLease(pathlib.Path(sys.argv[1])).acquire(); print('held', flush=True); "
            "time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        lease = SignerLease(tmp_path)
        assert not lease.acquire()
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    assert lease.acquire(), "SIGKILL released it"
    lease.release()


def test_a_follower_signs_at_its_stop_and_takes_over_when_the_holder_goes(factory: Factory) -> None:
    platform = factory.platform
    lab = factory.lab()
    touch(factory, factory.ctx(lab, Role.BIOLOGIST), 1)
    directory = platform.audit.checkpoint_dir
    holder = SignerLease(directory)  # another worker, signing on schedule
    wait_until(holder.acquire, "the lease is free once the other apps of the session stopped")
    reports: list[str] = []
    follower = CheckpointSchedule(
        platform.db,
        platform.audit,
        interval=60,
        events=1,
        report=reports.append,
        poll=0.02,
        lease=SignerLease(directory),
    )
    follower.start()
    try:
        time.sleep(0.3)  # fifteen polls, each due (first poll, and past one event)
        assert follower.signed == 0, "the holder signs on schedule, not the follower"
        holder.release()  # the holder stopped (or died)
        wait_until(lambda: follower.signed >= 1, "the follower took the lease over and signed")
        assert follower.lease is not None and follower.lease.held
    finally:
        signed = follower.signed
        assert follower.stop()
    assert follower.signed == signed + 1, "and it signs at its stop"
    assert reports == []
    assert holder.acquire(), "released at stop"
    holder.release()
