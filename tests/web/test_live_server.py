"""The real thing: `labvault serve` as a process on loopback, spoken to over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labvault.security.checkpoint import CHECKPOINT_FILE
from tests.conftest import BACKENDS, PgDatabase, require_pg


def wait_for(base: str, server: subprocess.Popen[bytes]) -> None:
    """Until ``labvault serve`` answers its health check (30 s at most, and it must not exit)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        assert server.poll() is None, "server exited"
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=BACKENDS)
def database_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    require_pg()
    pg = PgDatabase()
    pg.create()
    yield {"LABVAULT_DATABASE_URL": pg.url}
    pg.drop()


def test_demo_then_serve_over_http(tmp_path: Path, database_env: dict[str, str]) -> None:
    data, keys = tmp_path / "data", tmp_path / "keys"
    env = {**os.environ, "LABVAULT_DATA_DIR": str(data), "LABVAULT_KEY_DIR": str(keys), **database_env}
    cli = [sys.executable, "-m", "labvault.cli"]
    seeded = subprocess.run(
        [*cli, "demo", "--labs", "2", "--patients", "30", "--orders", "6", "--no-serve"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr.decode()
    creds = json.loads((data.parent / "demo-credentials.json").read_text())
    token = next(u["token"] for u in creds["users"] if u["username"] == "demo1.reception")
    other = next(u["token"] for u in creds["users"] if u["username"] == "demo2.reception")

    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, server)
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.status_code == 200 and me.json()["username"] == "demo1.reception"
        body = {"birth_name": "Serveur", "first_names": "Réel", "sex": "F", "birth_date": "1990-04-12"}
        created = httpx.post(
            f"{base}/api/v1/patients", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert created.status_code == 201, created.text
        url = f"{base}/api/v1/patients/{created.json()['id']}"
        assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}, timeout=5).status_code == 404
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).json()[
            "birth_name"
        ] == ("Serveur")
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output
    assert "Serveur" not in output
    assert (keys / "audit" / CHECKPOINT_FILE).exists()
    verified = subprocess.run([*cli, "audit", "verify"], env=env, capture_output=True, timeout=60)
    assert verified.returncode == 0, verified.stdout.decode() + verified.stderr.decode()
