"""X-Forwarded-For is believed only from configured proxies (issue 10, finding 6), on the real server.

The probe, from loopback, sent a new X-Forwarded-For with each login attempt and escaped the
per-origin login rate limit, and wrote a forged origin into the audit log: uvicorn trusts
127.0.0.1's proxy headers by default. Now they are off unless LABVAULT_TRUSTED_PROXIES names the
proxy. SQLite only: which address the server believes does not depend on the engine behind it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from labvault.security.models import AuditEvent
from tests.web.live_support import Demo, Server, seed_demo, serving

LIMIT = 3  # password-taking requests per origin per window (LABVAULT_LOGIN_RATE_LIMIT)
FORGED = "198.51.100.7"
PATIENT = {"first_names": "Faux", "sex": "M", "birth_date": "1975-11-30"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return seed_demo(tmp_path_factory.mktemp("proxy"), {})


def logins(server: Server, count: int) -> list[int]:
    """Failed logins, each claiming to come from another client through a proxy."""
    body = {"username": "nobody.here", "password": "pas le bon mot de passe", "totp_code": "000000"}
    return [
        server.call(
            "POST", "/api/v1/auth/login", body=body, headers={"X-Forwarded-For": f"203.0.113.{i}"}
        ).status_code
        for i in range(1, count + 1)
    ]


def registered_origin(server: Server, demo: Demo, birth_name: str) -> str:
    """Register a patient with a forged X-Forwarded-For; the origin its audit event recorded."""
    created = server.call(
        "POST",
        "/api/v1/patients",
        demo.tokens["demo1.reception"],
        body={**PATIENT, "birth_name": birth_name},
        headers={"X-Forwarded-For": FORGED},
    )
    assert created.status_code == 201, created.text
    platform = demo.platform()
    try:
        with platform.db.owner_engine.connect() as conn:
            origin: str = conn.execute(
                select(AuditEvent.origin).where(
                    AuditEvent.action == "patient.create", AuditEvent.object_id == created.json()["id"]
                )
            ).scalar_one()
    finally:
        platform.close()
    return origin


def test_forwarded_for_is_ignored_by_default(demo: Demo) -> None:
    with serving(demo, LABVAULT_LOGIN_RATE_LIMIT=str(LIMIT)) as server:
        assert registered_origin(server, demo, "Direct") == "127.0.0.1"  # the peer, not the header
        statuses = logins(server, LIMIT + 2)
    assert statuses[:LIMIT] == [401] * LIMIT, statuses
    assert statuses[LIMIT:] == [429, 429], statuses  # a new X-Forwarded-For each time did not help


def test_forwarded_for_is_believed_from_a_trusted_proxy(demo: Demo) -> None:
    settings = {"LABVAULT_LOGIN_RATE_LIMIT": str(LIMIT), "LABVAULT_TRUSTED_PROXIES": "127.0.0.1"}
    with serving(demo, **settings) as server:
        assert registered_origin(server, demo, "Mandataire") == FORGED  # the proxy's word for the client
        statuses = logins(server, LIMIT + 2)
    assert statuses == [401] * (LIMIT + 2), statuses  # each client has its own budget


def test_a_wildcard_proxy_is_refused(demo: Demo) -> None:
    """``*`` would make every client a proxy: the forged origin again, so it is refused."""
    env = {**demo.env, "LABVAULT_TRUSTED_PROXIES": "*"}
    refused = Demo(env, demo.lab_id, demo.tokens).run("serve", "--port", "1")
    assert refused.returncode == 2, refused.stderr
    assert "trusted proxy '*'" in refused.stderr and "forge" in " ".join(refused.stderr.split())
