"""The unsigned audit tail is bounded (issue 10, finding 4), replayed on the real server.

The probe stopped `labvault serve` with SIGTERM (what systemd and container runtimes send):
uvicorn re-raises the signal after its shutdown, so the CLI's `finally` never signed the tail,
and 11 deleted tail entries (a biologist's patient reads) passed `audit verify` after a restart.
Now the app's lifespan signs on every graceful stop, and on schedule while it runs (time and
event count), so even a SIGKILL leaves a bounded tail.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from labvault.platform import Platform
from tests.security.test_audit_tamper import HEADS, as_entry, chain_rows, drop_append_only_guards, rewrite
from tests.web.live_support import Demo, Server, seed_demo, serving
from tests.web.test_live_server import database_env  # noqa: F401 - the fixture, both engines

PATIENT = {"birth_name": "Arrêt", "first_names": "Propre", "sex": "F", "birth_date": "1981-03-02"}
# Nothing periodic unless the test says so: only the startup and the stop checkpoints sign.
NO_PERIODIC = {"LABVAULT_CHECKPOINT_INTERVAL_SECONDS": "3600", "LABVAULT_CHECKPOINT_EVENTS": "1000000"}


def signed_size(platform: Platform, chain: str) -> int:
    state = platform.audit.signed_state()
    stored = state.chains.get(chain) if state is not None else None
    return stored.checkpoint.size if stored is not None else -1


def register(server: Server, demo: Demo) -> str:
    created = server.call("POST", "/api/v1/patients", demo.tokens["demo1.reception"], body=PATIENT)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def reads(server: Server, demo: Demo, patient: str, count: int) -> None:
    """The biologist reads the patient ``count`` times: one audit entry each."""
    for _ in range(count):
        read = server.call("GET", f"/api/v1/patients/{patient}", demo.tokens["demo1.biologist"])
        assert read.status_code == 200, read.text


def totals(platform: Platform) -> tuple[int, int]:
    """Entries in all chains, and how many of them the signed checkpoints cover."""
    with platform.db.owner_engine.connect() as conn:
        appended = int(conn.execute(select(func.sum(HEADS.c.last_seq))).scalar_one())
    state = platform.audit.signed_state()
    signed = sum(c.checkpoint.size for c in state.chains.values()) if state is not None else -1
    return appended, signed


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def truncate_tail(demo: Demo, cut: int) -> None:
    """What the probe did in the database: delete the last ``cut`` entries of the lab's chain and
    recompute the head (hash and Merkle frontier), so the chain is self-consistent again."""
    platform = demo.platform()
    try:
        with platform.db.owner_engine.begin() as conn:
            drop_append_only_guards(conn)
            rows = chain_rows(conn, demo.lab_id)
            assert any(row.action == "patient.read" for row in rows[-cut:])
            rewrite(conn, demo.lab_id, [as_entry(row) for row in rows[:-cut]])
    finally:
        platform.close()


def test_sigterm_signs_the_tail(tmp_path: Path, database_env: dict[str, str]) -> None:  # noqa: F811
    demo = seed_demo(tmp_path, database_env)
    with serving(demo, **NO_PERIODIC) as server:
        reads(server, demo, register(server, demo), 12)
        output = server.stop(signal.SIGTERM)
    # uvicorn re-raised SIGTERM after its shutdown: nothing after `uvicorn.run` ran.
    assert server.process.returncode == -signal.SIGTERM, output
    assert "checkpoint" not in output, output  # no refusal reported
    platform = demo.platform()
    try:
        with platform.db.owner_engine.connect() as conn:
            length = len(chain_rows(conn, demo.lab_id))
        assert signed_size(platform, demo.lab_id) == length  # every entry, the last read included
    finally:
        platform.close()
    assert demo.run("audit", "verify").returncode == 0

    truncate_tail(demo, 11)
    verified = demo.run("audit", "verify")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert "log truncated" in verified.stderr, verified.stderr


def test_the_tail_is_signed_after_n_events_while_running(
    tmp_path: Path,
    database_env: dict[str, str],  # noqa: F811
) -> None:
    """With the time bound out of reach, N new entries alone trigger a checkpoint (not fewer); a
    SIGKILL (no graceful stop) then loses at most the entries after it."""
    demo = seed_demo(tmp_path, database_env)
    bound = 10
    settings = {**NO_PERIODIC, "LABVAULT_CHECKPOINT_EVENTS": str(bound), "LABVAULT_OFF_HOURS_ALERTS": "false"}
    platform = demo.platform()
    try:
        with serving(demo, **settings) as server:
            wait_until(lambda: totals(platform)[1] >= 0, "no checkpoint at startup")
            _, signed = totals(platform)
            reads(server, demo, patient := register(server, demo), 3)  # and first-use alerts
            appended, _ = totals(platform)
            assert 4 <= appended - signed < bound
            time.sleep(2.5)  # two polls: below the bound, nothing is signed
            assert totals(platform) == (appended, signed)
            reads(server, demo, patient, bound - (appended - signed))  # now at the bound
            appended, _ = totals(platform)
            wait_until(lambda: totals(platform)[1] >= appended, "no checkpoint after N entries")
            server.stop(signal.SIGKILL)
    finally:
        platform.close()
    truncate_tail(demo, 3)
    verified = demo.run("audit", "verify")
    assert verified.returncode == 1 and "log truncated" in verified.stderr, verified.stderr
