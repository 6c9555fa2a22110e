"""The web security baseline headers: on every answer (successes, refusals, the 413 of the outer
middleware, an unhandled 500), with values the application cannot weaken, no server banner, no
cookie; and `labvault serve` binds loopback and sends no `server` header either."""

from __future__ import annotations

import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from labvault.cli.demo import demo
from labvault.cli.server import run_server, serve
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX, OPENAPI_URL, create_app
from labvault.web.headers import SECURITY_HEADERS, SecurityHeaders
from tests.conftest import build_platform
from tests.factories import Factory
from tests.web.support import TestClient, bearer, patient_json, token_for
from tests.web.test_live_server import free_port

EXPECTED = {
    "content-security-policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
    "pragma": "no-cache",
}


@dataclass
class Env:
    client: TestClient
    factory: Factory
    token: str
    admin_token: str


@pytest.fixture(scope="module")
def env(platform: Platform) -> Iterator[Env]:
    factory = Factory(platform)
    lab = factory.lab("Laboratoire des en-têtes")
    token = token_for(platform, factory.user(lab, Role.RECEPTION))
    admin_token = token_for(platform, factory.user(lab, Role.LAB_ADMIN))
    with TestClient(create_app(platform)) as client:
        yield Env(client, factory, token, admin_token)


def assert_baseline(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    for name, value in EXPECTED.items():
        assert response.headers.get_list(name) == [value], f"{where}: {name}"
    policy = {
        feature.split("=")[0]: feature.split("=")[1]
        for feature in response.headers["permissions-policy"].split(", ")
    }
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert policy.get(feature) == "()", f"{where}: {feature} is not denied"
    for absent in ("server", "x-powered-by", "set-cookie"):
        assert absent not in response.headers, f"{where}: {absent}"


def _duplicate(env: Env) -> httpx.Response:
    body = patient_json(env.factory.patient_data())
    assert env.client.post(f"{API_PREFIX}/patients", json=body, headers=bearer(env.token)).status_code == 201
    response: httpx.Response = env.client.post(f"{API_PREFIX}/patients", json=body, headers=bearer(env.token))
    return response


def _streamed_oversize(env: Env) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 4096

    headers = {**bearer(env.token), "Content-Type": "application/json"}
    response: httpx.Response = env.client.post(f"{API_PREFIX}/patients", content=chunks(), headers=headers)
    return response


REQUESTS: dict[str, tuple[int, Callable[[Env], httpx.Response]]] = {
    "health": (200, lambda e: e.client.get("/healthz")),
    "me": (200, lambda e: e.client.get(f"{API_PREFIX}/me", headers=bearer(e.token))),
    "document": (200, lambda e: e.client.get(OPENAPI_URL, headers=bearer(e.token))),
    "login refused": (
        401,
        lambda e: e.client.post(
            f"{API_PREFIX}/auth/login",
            json={"username": "nobody", "password": "x" * 12, "totp_code": "000000"},
        ),
    ),
    "no token": (401, lambda e: e.client.get(f"{API_PREFIX}/me")),
    "forbidden": (
        403,
        lambda e: e.client.post(
            f"{API_PREFIX}/labs",
            json={"code": "XX", "name": "Refusé", "finess": "123456782"},
            headers=bearer(e.token),
        ),
    ),
    "not found": (
        404,
        lambda e: e.client.get(f"{API_PREFIX}/patients/{uuid.uuid4()}", headers=bearer(e.token)),
    ),
    "no such path": (404, lambda e: e.client.get("/nothing-here")),
    "wrong method": (405, lambda e: e.client.put("/healthz")),
    "conflict": (409, _duplicate),
    "invalid": (422, lambda e: e.client.post(f"{API_PREFIX}/patients", json={}, headers=bearer(e.token))),
    "too large": (
        413,
        lambda e: e.client.post(f"{API_PREFIX}/patients", content=b" " * (1 << 20), headers=bearer(e.token)),
    ),
    "too large, streamed": (413, _streamed_oversize),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_every_answer_carries_the_baseline(env: Env, name: str) -> None:
    status, send = REQUESTS[name]
    response = send(env)
    assert response.status_code == status, response.text[:300]
    assert_baseline(response)


def test_an_unhandled_error_carries_the_baseline() -> None:
    inner = FastAPI()

    @inner.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(SecurityHeaders(inner), raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert_baseline(response)


def test_the_application_cannot_weaken_or_add_banners() -> None:
    """Whatever a route or a middleware sets, the baseline values win and banners go."""

    async def careless(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"cache-control", b"public, max-age=86400"),
            (b"Content-Security-Policy", b"default-src *"),
            (b"x-frame-options", b"ALLOWALL"),
            (b"Server", b"uvicorn"),
            (b"x-powered-by", b"labvault 0.1.0"),
            (b"content-type", b"text/plain"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    response = TestClient(SecurityHeaders(careless)).get("/")  # no lifespan: not a context manager
    assert_baseline(response)
    assert response.headers["content-type"] == "text/plain"  # headers of no concern are kept
    assert len(response.headers.raw) == len(SECURITY_HEADERS) + 1  # no duplicate left behind


# --- labvault serve -------------------------------------------------------------------------------


def test_serve_binds_loopback_and_names_no_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The options `labvault serve` gives uvicorn, then a real uvicorn on loopback with them."""
    for command in (serve, demo):
        assert inspect.signature(command).parameters["host"].default == "127.0.0.1", command.__name__
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    built, _ = build_platform(tmp_path, "sqlite")
    run_server(built, "127.0.0.1", 8000)  # returns at once with uvicorn.run replaced; closes the platform
    [(app, options)] = calls
    assert options["server_header"] is False
    assert options["host"] == "127.0.0.1"
    assert isinstance(app, SecurityHeaders)

    server = uvicorn.Server(uvicorn.Config(app, **{**options, "port": free_port(), "log_level": "warning"}))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        response = httpx.get(f"http://127.0.0.1:{server.config.port}/healthz", timeout=5)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert response.status_code == 200
    assert_baseline(response)
