"""schemathesis against the application's own OpenAPI document, in process (ASGI, no network).

The operations are read from ``/api/v1/openapi.json`` when the test runs, so routers added later are
fuzzed without touching this file. For each one, as the staff of a seeded laboratory or a platform
operator:

* generated valid and invalid requests never get a 5xx; the content type and body of every answer
  the document describes match it; invalid input is refused with a 4xx; a 2xx is never also given
  without the token or with a wrong one (schemathesis' ``ignored_auth``); every answer carries the
  security headers and sets no cookie;
* the same with the path ids of a real patient, order, result item and released report, so the
  generated bodies reach the services instead of a 404;
* without a bearer token (nothing, a forged one, or the valid token as a cookie), every operation
  the document does not mark public answers 401.

Bounded: a few derandomized examples per operation and mode (the same cases on every run, so CI
does not flake). ``LABVAULT_FUZZ_EXAMPLES=100`` runs a bigger, random search locally.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import Depends
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
)
from starlette.types import ASGIApp

from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX, OPENAPI_URL, create_app
from labvault.web.deps import bearer as bearer_scheme
from labvault.web.headers import SECURITY_HEADERS
from tests.factories import LOCAL, Bench, Factory
from tests.web.support import bearer, token_for
from tests.web.test_openapi_auth import FreshOrigin, fastapi_app

Operation = APIOperation[Any, Any, Any, Any]
Check = Callable[[Case[Any], int], None]  # a generated case, and which caller sends it

# Per operation and mode. The default run is derandomized (the same cases every time: CI does not
# flake); setting the variable runs a bigger, random search.
DEEP = "LABVAULT_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("LABVAULT_FUZZ_EXAMPLES", "4"))
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared: time is bounded by the number of examples instead
    database=None,
    derandomize=not DEEP,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
# Fewer without a token: test_openapi_auth walks every route that way too.
ANONYMOUS_BUDGET = settings(BUDGET, max_examples=max(EXAMPLES // 2, 1))
NUL_BUDGET = settings(BUDGET, max_examples=2)
POSITIVE_ONLY = (GenerationMode.POSITIVE,)
# For routes known to fail: the first failure is enough, no shrinking.
FIRST_FAILURE = settings(BUDGET, phases=[Phase.generate])
CONFIG = schemathesis.Config.from_dict(
    {
        # Each test chooses the credentials it sends: none generated into the cases.
        "generation": {"with-security-parameters": False},
        # Invalid input may also be refused for its size, by the outer body limit (413).
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413"),
                    *("415", "422", "428", "429", "5xx"),  # a 5xx fails not_a_server_error
                ]
            }
        },
    }
)
CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
]
# Where a browser or a client could put a credential other than the Authorization header.
COOKIE_NAMES = ("access_token", "token", "session", "Authorization")
# Answered before authentication, from the bytes sent alone (docs/SECURITY.md, "Web security
# baseline"): a body over the size limit (413, outer middleware), and, as FastAPI parses the body
# before it resolves any dependency, one that cannot be decoded (400, this detail) or is not JSON
# at all (422 json_invalid).
UNDECODABLE_BODY = "There was an error parsing the body"


@dataclass(frozen=True)
class Target:
    app: ASGIApp
    tokens: tuple[str, ...]  # a lab's biologist, technician, reception and admin; an operator
    ids: dict[str, str]  # path parameter -> an object of that lab
    operations: tuple[Operation, ...]


@pytest.fixture(scope="module")
def target(platform: Platform) -> Iterator[Target]:
    factory = Factory(platform)
    lab = factory.lab("Laboratoire du banc d'essai")
    roles = (Role.BIOLOGIST, Role.TECHNICIAN, Role.RECEPTION, Role.LAB_ADMIN)
    staff = {role: factory.user(lab, role) for role in roles}
    bench = Bench(factory, lab, staff, LOCAL)
    adult = factory.patient_data(
        birth_date=dt.date(1971, 6, 2), nir=None, ins=None, ins_oid=None, ins_status=None
    )
    patient = platform.patients.register(bench.reception, adult)
    order = bench.order(patient.id, tests=["K", "NA"])
    bench.enter(order, {"K": "4.1", "NA": "140"})
    bench.validate(order, ["K", "NA"])
    version = bench.release(order)
    ids = {
        "patient_id": str(patient.id),
        "order_id": str(order.id),
        "item_id": str(Bench.items(order)["K"]),
        "lab_id": str(lab.id),
        "version": str(version),
    }
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    tokens = (
        *(token_for(platform, staff[role], hours=2) for role in roles),
        token_for(platform, operator, hours=2),
    )
    app = FreshOrigin(create_app(platform))
    schema = schemathesis.openapi.from_asgi(OPENAPI_URL, app, headers=bearer(tokens[0]), config=CONFIG)
    operations = operations_of(schema)
    assert len(operations) >= 30, [op.label for op in operations]
    yield Target(app, tokens, ids, operations)


def operations_of(schema: BaseSchema) -> tuple[Operation, ...]:
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document describes an operation badly: {result}"
        found.append(result.ok())
    return tuple(found)


def is_public(operation: Operation) -> bool:
    return bool(operation.definition.raw.get("security") == [])


def fuzz(
    operation: Operation,
    check: Check,
    *,
    path_parameters: dict[str, Any] | None = None,
    choices: int = 1,
    budget: settings = BUDGET,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
) -> None:
    """Run ``check(case, n)`` on valid then invalid cases; ``n`` picks one of ``choices`` callers."""
    for mode in modes:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

        @budget
        @given(case=strategy, n=st.integers(0, choices - 1))
        def run(case: Case[Any], n: int) -> None:
            check(case, n)

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            # Nothing about this operation can be made invalid (no parameter, no body).


def assert_baseline_headers(response: Response, label: str) -> None:
    for name, value in SECURITY_HEADERS:
        got = response.headers.get(name.decode())
        assert got == [value.decode()], f"{label} -> {response.status_code}: {name.decode()} is {got!r}"
    assert "set-cookie" not in response.headers, f"{label} sets a cookie"
    assert "server" not in response.headers, f"{label} names its server"


def authenticated_check(target: Target) -> Check:
    def check(case: Case[Any], n: int) -> None:
        response = case.call_and_validate(headers=bearer(target.tokens[n]), checks=CHECKS)
        assert_baseline_headers(response, case.operation.label)

    return check


def test_generated_requests_as_lab_staff(target: Target, subtests: pytest.Subtests) -> None:
    check = authenticated_check(target)
    for operation in target.operations:
        with subtests.test(msg=operation.label):
            fuzz(operation, check, choices=len(target.tokens))


def test_generated_requests_on_real_objects(target: Target, subtests: pytest.Subtests) -> None:
    check = authenticated_check(target)
    covered = 0
    for operation in target.operations:
        names = set(re.findall(r"\{(\w+)\}", operation.path))
        if not names or not names <= target.ids.keys():
            continue
        covered += 1
        with subtests.test(msg=operation.label):
            ids = {name: target.ids[name] for name in names}
            fuzz(operation, check, path_parameters=ids, choices=len(target.tokens))
    assert covered >= 15, "the seeded objects no longer match the path parameters"


def with_nul(value: Any) -> Any:
    """``value`` with a NUL character inside every string (PostgreSQL refuses NUL in text)."""
    if isinstance(value, str):
        return f"{value[:1]}\x00{value[1:]}"
    if isinstance(value, list):
        return [with_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: with_nul(item) for key, item in value.items()}
    return value


def test_strings_holding_a_nul_character(target: Target, subtests: pytest.Subtests) -> None:
    """Valid requests, then a NUL inside each string of the body and query: a 4xx at most. Random
    generation rarely produces it, and on PostgreSQL a NUL reaching a query is a 500."""
    authenticated = authenticated_check(target)

    def check(case: Case[Any], n: int) -> None:
        if case.body is not NOT_SET:
            case.body = with_nul(case.body)
        if case.query:
            case.query = with_nul(case.query)
        authenticated(case, n)

    for operation in target.operations:
        with subtests.test(msg=operation.label):
            fuzz(operation, check, choices=len(target.tokens), budget=NUL_BUDGET, modes=POSITIVE_ONLY)


def anonymous_check(token: str) -> tuple[Check, int]:
    """A check of requests without a bearer token (nothing, a forged one, the valid ``token`` as
    cookies) and the number of those ways: non-public operations must answer 401."""
    forged = {"Authorization": f"Bearer lvt_{uuid.uuid4().hex}"}
    attempts: tuple[dict[str, Any], ...] = (
        {},
        {"headers": forged},
        {"cookies": dict.fromkeys(COOKIE_NAMES, token)},
    )

    def check(case: Case[Any], n: int) -> None:
        response = case.call(**attempts[n])
        label = f"{case.operation.label} with {sorted(attempts[n]) or 'nothing'}"
        assert response.status_code < 500, f"{label} -> {response.status_code}"
        assert_baseline_headers(response, label)
        if is_public(case.operation) or pre_auth_answer(response):
            return
        assert response.status_code == 401, f"{label} -> {response.status_code}: {response.text[:200]}"
        assert response.headers.get("www-authenticate") == ["Bearer"], label

    return check, len(attempts)


def pre_auth_answer(response: Response) -> bool:
    """The body is too large or could not be parsed at all: answered before authentication."""
    if response.status_code not in (400, 413, 422):
        return False
    detail = response.json().get("detail")
    if response.status_code == 413:
        return isinstance(detail, str) and detail.startswith("request body larger than")
    if response.status_code == 400:
        return bool(detail == UNDECODABLE_BODY)
    return isinstance(detail, list) and all(error.get("type") == "json_invalid" for error in detail)


def test_every_non_public_operation_refuses_requests_without_a_bearer_token(
    target: Target, subtests: pytest.Subtests
) -> None:
    check, ways = anonymous_check(target.tokens[0])
    for operation in target.operations:
        with subtests.test(msg=operation.label):
            fuzz(operation, check, choices=ways, budget=ANONYMOUS_BUDGET)


def test_the_fuzzing_catches_routes_that_ignore_authentication(platform: Platform, target: Target) -> None:
    """Two broken routes: one with no authentication at all, one that declares the bearer token
    (its scheme is a dependency) but never checks it."""
    app = create_app(platform)

    @fastapi_app(app).get(f"{API_PREFIX}/rogue/{{patient_id}}")
    def rogue(patient_id: uuid.UUID) -> dict[str, str]:
        return {"patient_id": str(patient_id)}

    @fastapi_app(app).get(f"{API_PREFIX}/declared-only", dependencies=[Depends(bearer_scheme)])
    def declared_only() -> dict[str, str]:
        return {}

    schema = schemathesis.openapi.from_asgi(OPENAPI_URL, app, headers=bearer(target.tokens[0]), config=CONFIG)
    found = {operation.path: operation for operation in operations_of(schema)}
    check, ways = anonymous_check(target.tokens[0])
    for path in (f"{API_PREFIX}/rogue/{{patient_id}}", f"{API_PREFIX}/declared-only"):
        with pytest.raises(AssertionError, match=r"-> 200"):
            fuzz(found[path], check, choices=ways, budget=FIRST_FAILURE)
    staff = Target(app, target.tokens, target.ids, ())
    with pytest.raises(BaseExceptionGroup, match="accepts requests without authentication"):
        fuzz(
            found[f"{API_PREFIX}/declared-only"],
            authenticated_check(staff),
            choices=len(target.tokens),
            budget=FIRST_FAILURE,
        )
