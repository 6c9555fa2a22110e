"""A real browser for the UI tests: Debian's Chromium (the `chromium` package, installed by
scripts/test-deps.sh), driven by Playwright with ``executable_path`` (Playwright never downloads
a browser here), against labvault served by uvicorn on loopback in this process.

Locally the tests skip with a message without Chromium; under CI=true a missing one fails."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.sync_api import Browser, Playwright, sync_playwright

from labvault.platform import Platform
from labvault.web.app import create_app
from tests.conftest import IN_CI
from tests.web.test_live_server import free_port

CHROMIUM = os.environ.get("LABVAULT_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Headless, as root, on a machine without a network: no sandbox (root), no GPU, and none of the
# background connections Chromium makes to Google's hosts at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not os.path.exists(CHROMIUM):
        message = (
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package (scripts/test-deps.sh)"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


class LiveServer:
    """An ASGI application served by uvicorn on 127.0.0.1 in a thread, for as long as a test needs."""

    def __init__(self, app: object, port: int | None = None, host_name: str = "127.0.0.1") -> None:
        self.port = port or free_port()
        self.url = f"http://{host_name}:{self.port}"  # the server binds 127.0.0.1 whatever the name
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_labvault(platform: Platform) -> Iterator[LiveServer]:
    with LiveServer(create_app(platform)) as server:
        yield server
