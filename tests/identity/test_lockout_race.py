"""Concurrent guesses on one account cannot all be checked before the first failure counts: with a
lockout after 3 failures, 8 simultaneous wrong codes with the right password give at most 3 code
checks, the rest are refused as locked (PostgreSQL row lock; SQLite serialises transactions)."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select

from labvault.errors import Unauthenticated
from labvault.identity.auth_policy import AuthPolicy
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.models import AuditEvent
from labvault.store.base import utcnow
from tests.auth_helpers import enroll, with_clock
from tests.factories import TEST_PASSWORD, Factory


def test_concurrent_guesses_stop_at_the_lockout(platform: Platform) -> None:
    strict = with_clock(platform, utcnow, AuthPolicy(max_failures=3))
    factory = Factory(strict)
    account = factory.user(factory.lab(), Role.TECHNICIAN)
    app = enroll(strict.accounts, account.username)
    good = int(app.code_for_step(0))
    wrong = [f"{(good + 1 + k * 7919) % 1_000_000:06d}" for k in range(8)]
    start = threading.Barrier(len(wrong))
    refused: list[bool] = []

    def guess(code: str) -> None:
        start.wait()
        try:
            strict.accounts.authenticate(account.username, TEST_PASSWORD, code, "race")
        except Unauthenticated:
            refused.append(True)

    threads = [threading.Thread(target=guess, args=(code,)) for code in wrong]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == len(wrong)
    with strict.db.owner_engine.connect() as conn:
        details = conn.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.actor_id == account.id, AuditEvent.action == "auth.login_failed"
            )
        ).all()
    reasons = Counter(str(d["reason"]) for d in details)
    assert reasons["code"] <= 3, reasons
    assert reasons["code"] + reasons["locked"] == len(wrong), reasons
