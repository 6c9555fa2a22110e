"""A seeded demo and `labvault serve` as a real process, for tests that need signals and sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from labvault.config import Settings
from labvault.platform import Platform, open_platform
from tests.web.test_live_server import free_port, wait_for

CLI = [sys.executable, "-m", "labvault.cli"]


@dataclass
class Demo:
    """A demo seeded by the CLI: its environment, lab and demo accounts' tokens."""

    env: dict[str, str]
    lab_id: str
    tokens: dict[str, str]  # username -> API token

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def platform(self) -> Platform:
        """The same platform the server opens, in this process (to inspect or tamper)."""
        env = self.env
        return open_platform(
            Settings(
                data_dir=Path(env["LABVAULT_DATA_DIR"]),
                key_dir=Path(env["LABVAULT_KEY_DIR"]),
                database_url=env.get("LABVAULT_DATABASE_URL"),
            )
        )


def seed_demo(root: Path, database_env: dict[str, str], patients: int = 5) -> Demo:
    data, keys = root / "data", root / "keys"
    env = {**os.environ, "LABVAULT_DATA_DIR": str(data), "LABVAULT_KEY_DIR": str(keys), **database_env}
    if "LABVAULT_DATABASE_URL" not in database_env:
        env.pop("LABVAULT_DATABASE_URL", None)
    demo = Demo(env, "", {})
    seeded = demo.run("demo", "--labs", "1", "--patients", str(patients), "--orders", "0", "--no-serve")
    assert seeded.returncode == 0, seeded.stderr
    creds = json.loads((root / "demo-credentials.json").read_text())
    demo.lab_id = creds["labs"][0]["id"]
    demo.tokens = {user["username"]: user["token"] for user in creds["users"]}
    return demo


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> str:
        """Send ``sig`` and wait for the process to end; its output."""
        self.process.send_signal(sig)
        return self.process.communicate(timeout=60)[0].decode()

    def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, f"{self.base}{path}", json=body, headers=headers, timeout=10)


@contextmanager
def serving(demo: Demo, **settings: str) -> Iterator[Server]:
    """`labvault serve` on a free loopback port, with extra ``LABVAULT_*`` settings; killed if the
    test left it running."""
    port = free_port()
    env = {**demo.env, **settings}
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        wait_for(server.base, process)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
