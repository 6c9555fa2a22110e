"""The OpenAPI document declares authentication on every route, and every route enforces it.

Walks whatever the application serves when the test runs (routers added later included):

* every route is in the document (nothing hidden from the fuzzer and the clients) but the document
  itself, which needs a token too; Swagger UI and ReDoc are not served;
* the bearer scheme is the document's default, each operation declares it through its own
  dependency and documents its 401; only ``/healthz`` and routes under ``/api/v1/auth/`` may opt
  out, explicitly (``security: []``);
* each non-public operation answers 401 to every request without a bearer token: nothing, a forged
  token, the valid token as a cookie (CSRF), in the query string or in another scheme;
* the checks themselves catch an unauthenticated route (a rogue route is added and found).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from starlette.types import ASGIApp, Receive, Scope, Send

from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX, OPENAPI_URL, create_app
from labvault.web.deps import bearer as bearer_scheme
from tests.factories import Factory
from tests.web.support import TestClient, bearer, token_for

# FHIR's CapabilityStatement is public, as every FHIR server's metadata is (a client reads it first).
PUBLIC_PATHS = re.compile(rf"^(/healthz|/fhir/metadata|{API_PREFIX}/auth/.+)$")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
REQUIRED: list[dict[str, list[str]]] = [{bearer_scheme.scheme_name: []}]


class FreshOrigin:
    """Gives each request its own client address (198.18.0.0/15, reserved for benchmarks): the
    per-address limit of the password routes (429 before anything else, tested on its own) would
    otherwise answer most of these requests and hide what the routes behind it do."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            n = next(self.counter) % 65_536
            scope = {**scope, "client": (f"198.18.{n >> 8}.{n & 255}", 50_000)}
        await self.app(scope, receive, send)


@dataclass
class Env:
    app: ASGIApp
    client: TestClient
    token: str

    def document(self) -> dict[str, Any]:
        response = self.client.get(OPENAPI_URL, headers=bearer(self.token))
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document


@pytest.fixture(scope="module")
def env(platform: Platform) -> Iterator[Env]:
    factory = Factory(platform)
    user = factory.user(factory.lab("Laboratoire du contrat"), Role.BIOLOGIST)
    app = FreshOrigin(create_app(platform))
    with TestClient(app) as client:
        yield Env(app, client, token_for(platform, user))


def fastapi_app(asgi: object) -> FastAPI:
    """The FastAPI application inside the middleware wrappers of ``create_app``."""
    app = asgi
    while not isinstance(app, FastAPI):
        app = getattr(app, "app", None)
        assert app is not None, f"no FastAPI application inside {asgi!r}"
    return app


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the application serves."""
    found: set[tuple[str, str]] = set()
    for route in fastapi_routing.iter_route_contexts(app.routes):
        path = route.path_format or route.path
        assert path and route.methods, f"route {path!r} has no path or methods: it escapes these checks"
        found.update((method.lower(), path) for method in route.methods if method != "HEAD")
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def is_public(operation: dict[str, Any]) -> bool:
    return operation.get("security") == []


def declaration_problems(document: dict[str, Any]) -> list[str]:
    """What is wrong with the document's authentication declarations (empty: nothing)."""
    problems = []
    scheme = document["components"]["securitySchemes"].get(bearer_scheme.scheme_name)
    if scheme != {**scheme, "type": "http", "scheme": "bearer"}:
        problems.append(f"the bearer scheme is {scheme!r}")
    if document.get("security") != REQUIRED:
        problems.append(f"the document's default requirement is {document.get('security')!r}")
    for method, path, operation in operations(document):
        label = f"{method.upper()} {path}"
        if is_public(operation):
            if not PUBLIC_PATHS.match(path):
                problems.append(f"{label} is public outside /healthz and {API_PREFIX}/auth/")
        elif operation.get("security") != REQUIRED:
            # Declared only by the default: the route has no bearer dependency to enforce it.
            problems.append(f"{label} declares {operation.get('security')!r}, not its own bearer dependency")
        elif "401" not in operation.get("responses", {}):
            problems.append(f"{label} does not document its 401")
    return problems


def example_path(path: str, operation: dict[str, Any]) -> str:
    """``path`` with a plausible value for each parameter (its schema's format or type)."""
    schemas = {p["name"]: p.get("schema", {}) for p in operation.get("parameters", []) if p["in"] == "path"}

    def value(match: re.Match[str]) -> str:
        schema = schemas.get(match.group(1), {})
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        return "1" if schema.get("type") == "integer" else "x"

    return re.sub(r"\{(\w+)\}", value, path)


def anonymous_attempts(token: str) -> dict[str, dict[str, Any]]:
    """Every way of sending a request without a bearer token in the Authorization header."""
    return {
        "nothing": {},
        "forged bearer": {"headers": bearer(f"lvt_{uuid.uuid4().hex}")},
        "empty bearer": {"headers": {"Authorization": "Bearer "}},
        "token in a cookie": {"headers": {"Cookie": f"access_token={token}; session={token}; token={token}"}},
        "token in the query": {"params": {"access_token": token, "token": token}},
        "token in another scheme": {"headers": {"Authorization": f"Token {token}"}},
        "basic auth": {"headers": {"Authorization": "Basic Zm9vOmJhcg=="}},
    }


def enforcement_problems(client: TestClient, document: dict[str, Any], token: str) -> list[str]:
    """Non-public operations that answer something other than 401 to an anonymous attempt,
    and any answer that sets a cookie."""
    problems = []
    for method, path, operation in operations(document):
        url = example_path(path, operation)
        content = operation.get("requestBody", {}).get("content", {})
        body: dict[str, Any] = {"json": {}} if "application/json" in content else {}
        for attempt, kwargs in anonymous_attempts(token).items():
            response: httpx.Response = client.request(method, url, **body, **kwargs)
            label = f"{method.upper()} {path} with {attempt} -> {response.status_code}"
            if "set-cookie" in response.headers:
                problems.append(f"{label} sets a cookie")
            if is_public(operation):
                continue
            if response.status_code != 401 or response.headers.get("www-authenticate") != "Bearer":
                problems.append(label)
    return problems


# --- the document ---------------------------------------------------------------------------------


def test_the_document_needs_a_token(env: Env) -> None:
    for attempt, kwargs in anonymous_attempts(env.token).items():
        response = env.client.get(OPENAPI_URL, **kwargs)
        assert response.status_code == 401, f"{attempt}: {response.status_code}"
        assert "paths" not in response.text
    document = env.document()
    assert document["openapi"].startswith("3.")
    assert fastapi_app(env.app).openapi_url == OPENAPI_URL


@pytest.mark.parametrize(
    "path", [f"{API_PREFIX}/docs", f"{API_PREFIX}/redoc", "/docs", "/redoc", "/openapi.json"]
)
def test_no_swagger_ui_nor_redoc(env: Env, path: str) -> None:
    """Their pages load scripts from a CDN, which the Content-Security-Policy forbids."""
    assert env.client.get(path, headers=bearer(env.token)).status_code == 404


def test_every_served_route_is_in_the_document(env: Env) -> None:
    documented = {(method, path) for method, path, _ in operations(env.document())}
    served = served_routes(fastapi_app(env.app))
    # The browser UI's pages (cookie sessions, not bearer) and the redirect of / to them are not
    # API operations: tests/web/test_ui_routes.py holds a row for each of them.
    pages = {(m, p) for m, p in served if p.startswith("/ui/")} | {("get", "/")}
    assert served - documented - pages == {("get", OPENAPI_URL)}, "routes hidden from the document"
    assert documented <= served
    assert len(documented) >= 30, sorted(documented)


def test_every_operation_declares_the_bearer_token_unless_explicitly_public(env: Env) -> None:
    document = env.document()
    assert declaration_problems(document) == []
    public = {(method, path) for method, path, operation in operations(document) if is_public(operation)}
    assert {("get", "/healthz"), ("post", f"{API_PREFIX}/auth/login")} <= public
    assert len(public) < len(list(operations(document))) / 4, f"suspiciously many public routes: {public}"


# --- enforcement ----------------------------------------------------------------------------------


def test_every_non_public_operation_answers_401_without_a_bearer_token(env: Env) -> None:
    """Includes the CSRF property: the API never reads a cookie, so a cross-site request (which
    carries the browser's cookies but cannot set an Authorization header) is unauthenticated."""
    assert enforcement_problems(env.client, env.document(), env.token) == []


def test_public_operations_do_not_need_the_token(env: Env) -> None:
    response = env.client.get("/healthz")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers


# --- the checks catch a route without authentication ----------------------------------------------


def test_the_checks_find_a_route_without_authentication(platform: Platform, env: Env) -> None:
    app = create_app(platform)

    @fastapi_app(app).get(f"{API_PREFIX}/rogue")
    def rogue() -> dict[str, str]:
        return {"patients": "all of them"}

    @fastapi_app(app).get(f"{API_PREFIX}/sneaky", openapi_extra={"security": []})
    def sneaky() -> dict[str, str]:
        return {"patients": "all of them"}

    with TestClient(FreshOrigin(app)) as client:
        document = client.get(OPENAPI_URL, headers=bearer(env.token)).json()
        assert declaration_problems(document) == [
            f"GET {API_PREFIX}/rogue declares None, not its own bearer dependency",
            f"GET {API_PREFIX}/sneaky is public outside /healthz and {API_PREFIX}/auth/",
        ]
        found = enforcement_problems(client, document, env.token)
    assert {problem.split(" with ")[0] for problem in found} == {f"GET {API_PREFIX}/rogue"}
    assert len(found) == len(anonymous_attempts(env.token))
