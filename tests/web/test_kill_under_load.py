"""A read is answered only once its audit event is committed: `labvault serve` killed with SIGKILL
in the middle of concurrent reads leaves a log that verifies and holds an event for every read a
client got an answer to (events of reads whose answer the kill cut off may be there too)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import select

from labvault.identity.models import Patient
from labvault.security.models import AuditEvent
from tests.web.live_support import seed_demo, serving
from tests.web.test_live_server import database_env  # noqa: F401 - the fixture

READERS = 8
GENEROUS = '{"biologist": 100000}'
BUDGETS = {
    "LABVAULT_READ_BUDGET_SOFT": GENEROUS,
    "LABVAULT_READ_BUDGET_HARD": '{"biologist": 200000}',
    "LABVAULT_READ_BUDGET_HOUR_SOFT": GENEROUS,
    "LABVAULT_READ_BUDGET_HOUR_HARD": '{"biologist": 200000}',
    "LABVAULT_READ_BUDGET_DAY_SOFT": GENEROUS,
    "LABVAULT_READ_BUDGET_DAY_HARD": '{"biologist": 200000}',
    "LABVAULT_READ_RATE_PER_MINUTE": "1000000",
    "LABVAULT_LAB_READ_BUDGET_SOFT": "100000",
    "LABVAULT_LAB_READ_BUDGET_HARD": "200000",
}


def test_every_answered_read_is_in_the_verified_log_after_kill_9(
    tmp_path: Path,
    database_env: dict[str, str],  # noqa: F811
) -> None:
    demo = seed_demo(tmp_path, database_env, patients=40)
    token = demo.tokens["demo1.biologist"]
    platform = demo.platform()
    with platform.db.owner_engine.connect() as conn:
        patients = list(conn.execute(select(Patient.__table__.c.id)).scalars())
    platform.close()
    answered: list[uuid.UUID] = []
    lock = threading.Lock()

    def read(number: int) -> None:
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as client:
            for step in range(100_000):  # bounded; the kill ends it
                patient_id = patients[(number * 7 + step) % len(patients)]
                try:
                    response = client.get(f"/api/v1/patients/{patient_id}", timeout=10)
                except httpx.HTTPError:
                    return
                assert response.status_code == 200, response.text
                with lock:
                    answered.append(uuid.UUID(response.json()["id"]))

    with serving(demo, **BUDGETS) as server:
        threads = [threading.Thread(target=read, args=(n,)) for n in range(READERS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(answered) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.process.kill()  # SIGKILL: no shutdown, no last checkpoint
        server.process.communicate(timeout=30)
        for thread in threads:
            thread.join(timeout=30)
    assert len(answered) >= 150
    platform = demo.platform()
    try:
        result = platform.audit.verify()
        assert result.ok, result.problems
        events = AuditEvent.__table__
        query = select(events.c.patient_id).where(events.c.action == "patient.read")
        with platform.db.owner_engine.connect() as conn:
            logged = Counter(conn.execute(query).scalars())
    finally:
        platform.close()
    missing = {p: n - logged[p] for p, n in Counter(answered).items() if logged[p] < n}
    assert missing == {}
