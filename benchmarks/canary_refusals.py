"""What the sealed canary check and the audited refusals (issue 10, findings 11 and 9) cost.

``python -m benchmarks.canary_refusals [--backend sqlite|postgresql] [--rounds 300]``

* Canary check, for an audit batch naming 1 and 500 patients, in a lab with 10 canaries, arms
  alternating call by call: **before** is the lookup the check did before migration 0014 (one
  indexed ``IN`` on the canaries table, no computation), **after** is :func:`canaries_among` (one
  HMAC per patient, then the same indexed ``IN`` on the blind index).
* A refused request (``GET /api/v1/patients/{unknown id}``, 404) through the application, arms
  alternating: **before** with the refusal service replaced by a no-op, **after** recording an
  ``access.refused`` event per request (distinct ids, so none is coalesced), and **capped**: past
  the per-minute cap, counted in memory only.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable

from sqlalchemy import select
from starlette.testclient import TestClient

from benchmarks.common import BENCH_PASSWORD, bench_platform, generate_finess_for, generate_patients, log
from labvault.demo.seed import cli_context
from labvault.identity.accounts import context_for
from labvault.oversight.canaries import CanaryService, canaries_among, canary_index
from labvault.oversight.canary_models import Canary
from labvault.oversight.refusals import RefusalService
from labvault.security.access import Purpose, Role
from labvault.web.app import create_app


def p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e3, 3)


def paired(rounds: int, before: Callable[[], None], after: Callable[[], None]) -> tuple[float, float]:
    """Median of each arm, the arms alternating (and which goes first)."""
    times: dict[str, list[float]] = {"before": [], "after": []}
    for i in range(rounds):
        order = (("before", before), ("after", after)) if i % 2 else (("after", after), ("before", before))
        for name, call in order:
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return p50_ms(times["before"]), p50_ms(times["after"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with bench_platform(args.backend) as env:
        platform = env.platform
        operator = cli_context()
        lab = platform.labs.create(operator, "BENCHC", "Laboratoire BENCHC", generate_finess_for("BENCHC"))
        admin = platform.accounts.create_user(
            operator, "bench.c.admin", BENCH_PASSWORD, Role.LAB_ADMIN, lab.id
        )
        CanaryService(platform.db, platform.patients).plant(context_for(admin), 10, "bench")
        staff = platform.accounts.create_user(
            context_for(admin, Purpose.ADMINISTRATION),
            "bench.c.desk",
            BENCH_PASSWORD,
            Role.RECEPTION,
            lab.id,
        )
        ids = platform.patients.register_many(context_for(staff), generate_patients(500, 7))
        with platform.db.transaction(lab.id) as session:
            keys = platform.keys.keyset(session, lab.id)
        for size in (1, 500):
            batch = ids[:size]
            stored = [canary_index(keys, p) for p in batch]  # what the old check found stored

            def before(stored: list[bytes] = stored) -> None:
                with platform.db.transaction(lab.id) as session:
                    list(session.execute(select(Canary.id).where(Canary.patient_bidx.in_(stored))))

            def after(batch: list[uuid.UUID] = batch) -> None:
                with platform.db.transaction(lab.id) as session:
                    canaries_among(session, batch, keys)

            medians = paired(args.rounds, before, after)
            log(f"{args.backend} canary check, {size} patient(s): before/after p50 ms {medians}")

        token = platform.accounts.issue_token(staff, "bench", dt.timedelta(hours=1)).token
        headers = {"Authorization": f"Bearer {token}"}
        record = RefusalService.record
        for label, per_minute in (("recorded", 10**6), ("capped", 1)):
            settings = platform.settings.model_copy(
                update={"refusal_events_per_minute": per_minute, "refusal_alert_count": 10**6}
            )
            refusals = RefusalService(platform.db, settings)
            changed = dataclasses.replace(platform, settings=settings, refusals=refusals)
            with TestClient(create_app(changed)) as client:

                def refused(client: TestClient = client) -> None:
                    assert client.get(f"/api/v1/patients/{uuid.uuid4()}", headers=headers).status_code == 404

                def without() -> None:
                    RefusalService.record = lambda *_: None  # type: ignore[method-assign]
                    try:
                        refused()
                    finally:
                        RefusalService.record = record  # type: ignore[method-assign]

                log(
                    f"{args.backend} 404 {label}: before/after p50 ms {paired(args.rounds, without, refused)}"
                )


if __name__ == "__main__":
    main()
