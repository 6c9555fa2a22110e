"""`labvault serve --workers 2` as a real process: what one worker decides, the other knows at once.

Each test speaks to both workers through connections pinned to each (tests/web/pinned.py): a
token revoked, or an account disabled, through one worker is refused by both on the very next
request; the login rate limit counts the attempts both receive as one. When the server stops
(SIGTERM), every worker signs the audit heads and closes its platform, and the log verifies.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labvault.security.totp import code_at_step, step_of
from labvault.store.base import utcnow
from tests.conftest import BACKENDS, PgDatabase, require_pg
from tests.web.live_support import Demo, Server, seed_demo, serving
from tests.web.pinned import Pinned, close_all, pin_every_worker

WORKERS = 2
LIMIT = 6  # login attempts per origin per minute: 3 on each worker would pass a per-process limit
AFTER = 20  # requests to each worker after the change
ME = "/api/v1/me"
LOGIN = "/api/v1/auth/login"


@dataclass
class Running:
    demo: Demo
    server: Server
    clients: list[Pinned]  # one per worker, from 127.0.0.1

    def credentials(self, username: str) -> dict[str, str]:
        document = json.loads(
            (Path(self.demo.env["LABVAULT_DATA_DIR"]).parent / "demo-credentials.json").read_text()
        )
        user: dict[str, str] = next(u for u in document["users"] if u["username"] == username)
        return user


@pytest.fixture(scope="module", params=BACKENDS)
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    pg: PgDatabase | None = None
    database_env: dict[str, str] = {}
    if request.param == "postgresql":
        require_pg()
        pg = PgDatabase()
        pg.create()
        database_env = {"LABVAULT_DATABASE_URL": pg.url}
    try:
        demo = seed_demo(tmp_path_factory.mktemp(f"workers-{request.param}"), database_env, patients=2)
        settings = {"LABVAULT_WORKERS": str(WORKERS), "LABVAULT_LOGIN_RATE_LIMIT": str(LIMIT)}
        with serving(demo, **settings) as server:
            clients = pin_every_worker(server.base, server.process.pid, WORKERS)
            try:
                yield Running(demo, server, clients)
            finally:
                close_all(clients)
            output = server.stop(signal.SIGTERM)
        assert server.process.returncode == 0, output
        assert output.count("Application shutdown complete") == WORKERS, output
        assert "checkpoint" not in output, output  # no signature refused, at stop or before
        verified = demo.run("audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        if pg is not None:
            pg.drop()


def refused_everywhere(first: Pinned, second: Pinned, token: str) -> list[int]:
    """The very next request, on the worker that did not make the change, then many on both."""
    answers = [second.call("GET", ME, token).status_code]
    for _ in range(AFTER):
        answers += [first.call("GET", ME, token).status_code, second.call("GET", ME, token).status_code]
    return answers


def test_a_revoked_token_is_refused_by_every_worker_at_once(running: Running) -> None:
    first, second = running.clients
    assert first.worker != second.worker
    platform = running.demo.platform()
    try:
        owner = platform.accounts.resolve_token(running.demo.tokens["demo1.technician"])
        token = platform.accounts.issue_token(owner, "workers", dt.timedelta(hours=1)).token
        token_id = platform.accounts.resolve_token(token).token_id
    finally:
        platform.close()
    # Both workers have served the token (whatever either might keep of it, it has it now).
    assert [first.call("GET", ME, token).status_code, second.call("GET", ME, token).status_code] == [200, 200]
    assert first.call("DELETE", f"/api/v1/tokens/{token_id}", token).status_code == 204
    answers = refused_everywhere(first, second, token)
    assert answers == [401] * len(answers)


def test_a_disabled_account_is_refused_by_every_worker_at_once(running: Running) -> None:
    first, second = running.clients
    user, admin = running.demo.tokens["demo1.biologist"], running.demo.tokens["demo1.labadmin"]
    me = [first.call("GET", ME, user), second.call("GET", ME, user)]
    assert [response.status_code for response in me] == [200, 200]
    secrets = running.credentials("demo1.labadmin")
    code = code_at_step(secrets["totp_secret"], step_of(utcnow()) + 1)  # a step the demo did not use
    reauth = {"password": secrets["password"], "totp_code": code}
    assert second.call("POST", "/api/v1/auth/reauth", admin, reauth).status_code == 200
    # The re-authentication is the database's too: the other worker lets the admin act.
    disabled = first.call("PATCH", f"/api/v1/users/{me[0].json()['id']}", admin, {"active": False})
    assert disabled.status_code == 200, disabled.text
    answers = refused_everywhere(first, second, user)
    assert answers == [401] * len(answers)


def test_the_login_limit_counts_the_attempts_of_every_worker(running: Running) -> None:
    # From 127.0.0.2: an origin of its own, whatever the other tests sent from 127.0.0.1.
    first, second = pin_every_worker(running.server.base, running.server.process.pid, WORKERS, "127.0.0.2")
    try:
        body = {"username": "nobody.here", "password": "pas le bon mot de passe", "totp_code": "000000"}
        spread = [(first, second)[n % 2].call("POST", LOGIN, body=body) for n in range(LIMIT)]
        assert [response.status_code for response in spread] == [401] * LIMIT  # LIMIT / 2 each
        limited = [first.call("POST", LOGIN, body=body), second.call("POST", LOGIN, body=body)]
        assert [response.status_code for response in limited] == [429, 429]
        assert all(1 <= int(response.headers["retry-after"]) <= 60 for response in limited)
    finally:
        close_all([first, second])
