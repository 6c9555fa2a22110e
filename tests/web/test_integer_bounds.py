"""Every integer the application reads is bounded: out-of-range values are a 422 naming them, never a 500.

The probe's ``GET /orders/{id}/reports/9223372036854775808.pdf`` answered 500 (``OverflowError`` in
SQLite's driver; ``NumericValueOutOfRange`` from 2147483648 on PostgreSQL). Walks whatever routes the
application serves when the test runs (routers added later included):

* every integer input (path, query, header, cookie, and every integer field of a body, however deep)
  declares a minimum and a maximum that fit a 64-bit column (UI form routes included);
* each integer input of an API route gets 2^31, 2^63 and -1, sent by a biologist and a lab admin of a
  lab, with the ids of real objects of that lab in the other path parameters (so an unbounded value
  would reach the database): a value outside the declared bounds is a 422 naming the input, one
  inside them any answer but a 5xx, with a reason when it is a refusal;
* the checks catch a route with an unbounded integer (rogue routes are added and found).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import select

from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX, create_app
from labvault.workflow.models import Result
from tests.factories import LOCAL, Bench, Factory
from tests.web.support import TestClient, bearer, token_for
from tests.web.test_openapi_auth import FreshOrigin, fastapi_app

PROBES = (2**31, 2**63, -1)
INT64 = (-(2**63), 2**63 - 1)
LOCATIONS = {
    "path_params": "path",
    "query_params": "query",
    "header_params": "header",
    "cookie_params": "cookie",
}

Pointer = tuple[str | int, ...]


@dataclass(frozen=True)
class Slot:
    """One integer a route reads: where (``path``, ``query``... or ``body``) and under which name or
    JSON pointer, with its schema (``minimum``/``maximum`` when bounded)."""

    method: str
    path: str
    location: str
    pointer: Pointer
    schema: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path} {self.location}:{'.'.join(map(str, self.pointer))}"

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """The smallest and largest values allowed (``gt``/``lt`` bounds made inclusive)."""
        low, high = self.schema.get("minimum"), self.schema.get("maximum")
        if low is None and "exclusiveMinimum" in self.schema:
            low = self.schema["exclusiveMinimum"] + 1
        if high is None and "exclusiveMaximum" in self.schema:
            high = self.schema["exclusiveMaximum"] - 1
        return low, high

    def accepts(self, value: int) -> bool:
        low, high = self.bounds
        return (low is None or value >= low) and (high is None or value <= high)


# --- the inventory --------------------------------------------------------------------------------


def schema_of(field: Any) -> dict[str, Any]:
    """A FastAPI parameter's JSON schema, built by pydantic as for validation."""
    info = field.field_info
    annotation: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    schema: dict[str, Any] = TypeAdapter(annotation).json_schema(mode="validation")
    return schema


def integers(
    schema: dict[str, Any], defs: dict[str, Any], pointer: Pointer = (), depth: int = 0
) -> Iterator[tuple[Pointer, dict[str, Any]]]:
    """Every integer in a JSON schema, with the pointer of the value that holds it."""
    assert depth < 20, f"schema too deep (recursive?) at {pointer}"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        yield from integers(defs[name], defs, pointer, depth + 1)
        return
    if schema.get("type") == "integer" or (
        isinstance(schema.get("type"), list) and "integer" in schema["type"]
    ):
        yield pointer, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from integers(option, defs, pointer, depth + 1)
    for name, sub in schema.get("properties", {}).items():
        yield from integers(sub, defs, (*pointer, name), depth + 1)
    if isinstance(schema.get("items"), dict):
        yield from integers(schema["items"], defs, (*pointer, 0), depth + 1)
    for index, sub in enumerate(schema.get("prefixItems", [])):
        yield from integers(sub, defs, (*pointer, index), depth + 1)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from integers(schema["additionalProperties"], defs, (*pointer, "key"), depth + 1)


def flattened(dependant: Any) -> Iterator[tuple[str, Any]]:
    for kind, location in LOCATIONS.items():
        for field in getattr(dependant, kind):
            yield location, field
    for sub in dependant.dependencies:
        yield from flattened(sub)


def slots(app: FastAPI) -> list[Slot]:
    """Every integer input of every route the application serves."""
    found: list[Slot] = []
    for route in fastapi_routing.iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        path = route.path_format or route.path
        assert path and dependant is not None, f"route {path!r} has no dependant: it escapes these checks"
        methods = sorted(m.lower() for m in route.methods or () if m != "HEAD")
        inputs: list[tuple[str, Pointer, dict[str, Any]]] = []
        for location, field in flattened(dependant):
            schema = schema_of(field)
            for pointer, sub in integers(schema, schema.get("$defs", {})):
                inputs.append((location, (field.alias, *pointer), sub))
        body_field = getattr(route, "body_field", None)
        if body_field is not None:
            schema = schema_of(body_field)
            for pointer, sub in integers(schema, schema.get("$defs", {})):
                inputs.append(("body", pointer, sub))
        found.extend(Slot(m, path, loc, ptr, sub) for m in methods for loc, ptr, sub in inputs)
    return found


def unbounded(found: list[Slot]) -> list[str]:
    """Integer inputs without both bounds, or with bounds no 64-bit column holds."""
    problems = []
    for slot in found:
        low, high = slot.bounds
        if low is None or high is None:
            problems.append(f"{slot.label} has no {'minimum' if low is None else 'maximum'}")
        elif low < INT64[0] or high > INT64[1]:
            problems.append(f"{slot.label} allows [{low}, {high}], beyond a 64-bit integer")
    return problems


# --- sending the probes ---------------------------------------------------------------------------


@dataclass
class Env:
    app: Any
    client: TestClient
    tokens: tuple[str, ...]  # a biologist's and a lab admin's, recently re-authenticated
    ids: dict[str, str]  # path parameter -> an object of that lab


@pytest.fixture(scope="module")
def env(platform: Platform) -> Iterator[Env]:
    factory = Factory(platform)
    lab = factory.lab("Laboratoire des bornes")
    roles = (Role.BIOLOGIST, Role.TECHNICIAN, Role.RECEPTION, Role.LAB_ADMIN)
    staff = {role: factory.user(lab, role) for role in roles}
    bench = Bench(factory, lab, staff, LOCAL)
    adult = factory.patient_data(
        birth_date=dt.date(1966, 4, 9), nir=None, ins=None, ins_oid=None, ins_status=None
    )
    patient = platform.patients.register(bench.reception, adult)
    order = bench.order(patient.id, tests=["K", "NA"])
    bench.enter(order, {"K": "4.1", "NA": "140"})
    bench.validate(order, ["K", "NA"])
    bench.release(order)
    ids = {
        "patient_id": str(patient.id),
        "order_id": str(order.id),
        "item_id": str(Bench.items(order)["K"]),
        "lab_id": str(lab.id),
        "user_id": str(staff[Role.TECHNICIAN].id),
    }
    tokens = tuple(
        token_for(platform, staff[role], hours=2, recent_auth=True)
        for role in (Role.BIOLOGIST, Role.LAB_ADMIN)
    )
    app = FreshOrigin(create_app(platform))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(app, client, tokens, ids)


def filler(schema: dict[str, Any]) -> str:
    """A valid value for a parameter that is not the one probed."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("format") == "uuid":
            return str(uuid.uuid4())
        if option.get("type") == "integer":
            return str(max(option.get("minimum", 1), 1))
        if option.get("type") == "boolean":
            return "false"
    return "x"


def nested(pointer: Pointer, value: int) -> Any:
    """The smallest JSON body holding ``value`` at ``pointer``."""
    body: Any = value
    for step in reversed(pointer):
        body = [body] if isinstance(step, int) else {step: body}
    return body


def request_for(app: FastAPI, slot: Slot, value: int, ids: dict[str, str]) -> dict[str, Any]:
    """URL, query, headers and body of a request carrying ``value`` in ``slot``, everything else valid."""
    route = next(
        r
        for r in fastapi_routing.iter_route_contexts(app.routes)
        if (r.path_format or r.path) == slot.path and slot.method.upper() in (r.methods or ())
    )
    given: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}, "cookie": {}}
    for location, field in flattened(route.dependant):
        if (location, field.alias) == (slot.location, slot.pointer[0]):
            given[location][field.alias] = str(value)
        elif location == "path":
            given["path"][field.alias] = ids.get(field.alias) or filler(schema_of(field))
        elif location == "query" and field.field_info.is_required():
            given["query"][field.alias] = filler(schema_of(field))
    url = re.sub(r"\{(\w+)\}", lambda m: given["path"][m.group(1)], slot.path)
    request: dict[str, Any] = {"params": given["query"], "headers": given["header"]}
    if slot.location == "body":
        request["json"] = nested(slot.pointer, value)
    elif getattr(route, "body_field", None) is not None:
        request["json"] = {}
    return {"url": url, **request}


def answer_problems(env: Env, app: FastAPI, found: list[Slot]) -> list[str]:
    problems = []
    for slot in found:
        for value in PROBES:
            request = request_for(app, slot, value, env.ids)
            for token in env.tokens:
                sent = {**request, "headers": {**request["headers"], **bearer(token)}}
                response: httpx.Response = env.client.request(slot.method, **sent)
                label = f"{slot.label} = {value} -> {response.status_code}"
                problems.extend(judge(slot, value, response, label))
    return problems


def judge(slot: Slot, value: int, response: httpx.Response, label: str) -> list[str]:
    if response.status_code >= 500:
        return [label]
    if slot.accepts(value):
        if response.status_code >= 400 and not response.json().get("detail"):
            return [f"{label} without a reason"]
        return []
    if response.status_code != 422:
        return [f"{label}, not 422"]
    location = "body" if slot.location == "body" else slot.location
    wanted = [location, *slot.pointer]
    errors = response.json()["detail"]
    if not any(error["loc"] == wanted and error["msg"] for error in errors):
        return [f"{label} does not name {wanted}: {errors}"]
    return []


# --- the walk -------------------------------------------------------------------------------------


def api_slots(app: FastAPI) -> list[Slot]:
    return [slot for slot in slots(app) if slot.path.startswith(API_PREFIX + "/")]


def test_every_integer_input_is_bounded(env: Env) -> None:
    found = slots(fastapi_app(env.app))
    assert unbounded(found) == []
    paths = {slot.path for slot in found}
    assert f"{API_PREFIX}/orders/{{order_id}}/reports/{{version}}.pdf" in paths
    assert f"{API_PREFIX}/patients/{{patient_id}}" in paths  # expected_revision, in the PATCH body
    assert len(found) >= 10, [slot.label for slot in found]


def test_out_of_range_integers_are_422_never_500(env: Env) -> None:
    app = fastapi_app(env.app)
    assert answer_problems(env, app, api_slots(app)) == []


def test_the_probe_report_version(env: Env) -> None:
    """The probe's request, replayed on the released report of a real order."""
    url = f"{API_PREFIX}/orders/{env.ids['order_id']}/reports"
    biologist = bearer(env.tokens[0])
    for version in ("9223372036854775808", "2147483648", "-1", "0"):
        response = env.client.get(f"{url}/{version}.pdf", headers=biologist)
        assert response.status_code == 422, (version, response.text)
        assert [error["loc"] for error in response.json()["detail"]] == [["path", "version"]]
    assert env.client.get(f"{url}/1.pdf", headers=biologist).status_code == 200
    assert env.client.get(f"{url}/2147483647.pdf", headers=biologist).status_code == 404


# --- the checks catch an unbounded integer --------------------------------------------------------


class Rogue(BaseModel):
    note: str
    pages: list[dict[str, int]]


def test_the_checks_find_an_unbounded_integer(platform: Platform, env: Env) -> None:
    app = create_app(platform)
    api = fastapi_app(app)

    @api.get(f"{API_PREFIX}/rogue/{{version}}")
    def rogue(version: int) -> dict[str, int]:
        """Reaches the database with whatever it was sent, as the report route did."""
        with platform.db.engine.connect() as conn:
            found = conn.execute(select(Result.id).where(Result.version == version).limit(1)).first()
        return {"found": int(found is not None)}

    @api.post(f"{API_PREFIX}/rogue")
    def rogue_body(body: Rogue) -> dict[str, str]:
        return {"note": body.note}

    found = [slot for slot in slots(api) if "/rogue" in slot.path]
    assert unbounded(found) == [
        f"GET {API_PREFIX}/rogue/{{version}} path:version has no minimum",
        f"POST {API_PREFIX}/rogue body:pages.0.key has no minimum",
    ]
    with TestClient(FreshOrigin(app), raise_server_exceptions=False) as client:
        probing = Env(app, client, env.tokens, env.ids)
        problems = answer_problems(probing, api, [slot for slot in found if slot.method == "get"])
    # Unbounded, 2^63 reaches the driver: a 500 on both engines (2^31 too on PostgreSQL).
    assert f"GET {API_PREFIX}/rogue/{{version}} path:version = {2**63} -> 500" in problems
