"""The isolation matrix's shared parts: the callers, the world they act in, the row type, the
expectations, and the check every row runs (see tests/web/isolation/__init__.py for the matrix).

Each ``test_<resource>.py`` of this package holds the rows (``ROUTES``) of one resource with their
builders and verifiers; :func:`all_routes` gathers them for the coverage and role tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import pkgutil
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi import routing as fastapi_routing

from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.models import Patient
from labvault.identity.patient_data import PatientData, PatientRecord
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_rpps
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.web.app import API_PREFIX
from labvault.workflow.order_data import OrderRecord
from tests.auth_helpers import mark_reauthenticated, pool_for
from tests.db_inspect import audit_count, row_count
from tests.factories import GIVEN_PASSWORD, Bench, own
from tests.web.support import LAB_ROLES, TwoLabs, bearer, expire_token, token_for


class Caller(StrEnum):
    OWNER = "owner"
    OTHER_LAB = "other_lab"
    OPERATOR = "operator"
    ANONYMOUS = "anonymous"
    GARBAGE = "garbage"
    EXPIRED = "expired"
    REVOKED = "revoked"


UNAUTHENTICATED = frozenset({Caller.ANONYMOUS, Caller.GARBAGE, Caller.EXPIRED, Caller.REVOKED})
GARBAGE_HEADERS: tuple[dict[str, str], ...] = (
    bearer("lvt_" + "A" * 43),
    bearer("not-a-labvault-token"),
    bearer("lvt_" + "x" * 300),
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
)
PRESCRIBER = Role.PRESCRIBER
ACCOUNT_ROLES = (*LAB_ROLES, PRESCRIBER)


def distinctive_name(rng: random.Random) -> str:
    """A birth name no error message or lab name could contain by chance."""
    return "Qz" + "".join(rng.choice(string.ascii_lowercase) for _ in range(10))


@dataclass
class Flow:
    """Lab A's workflow objects for P that the read-only rows share."""

    bench: Bench
    order: OrderRecord  # O, by Dr D: K, NA, GLU validated and released (v1); HIV entered, not validated
    waiting: OrderRecord  # W, by Dr E: K received, awaiting entry
    own_waiting: OrderRecord  # V, by Dr D: K received, awaiting entry

    @property
    def order_items(self) -> dict[str, uuid.UUID]:
        return Bench.items(self.order)


@dataclass
class World(TwoLabs):
    """The two labs (tests/web/support.py) with a prescriber account each, tokens of lab A's
    accounts that expired or were revoked, two patients of lab A (P and its twin T) and P's orders."""

    expired: dict[Role, str]
    revoked: dict[Role, str]
    target: PatientRecord
    twin: PatientRecord
    flow: Flow

    def headers(self, caller: Caller, role: Role) -> list[dict[str, str]]:
        match caller:
            case Caller.OWNER:
                return [bearer(self.tokens[self.owner(role).id])]
            case Caller.OTHER_LAB:
                return [bearer(self.tokens[self.other(role).id])]
            case Caller.OPERATOR:
                return [bearer(self.tokens[self.operator.id])]
            case Caller.ANONYMOUS:
                return [{}]
            case Caller.GARBAGE:
                return list(GARBAGE_HEADERS)
            case Caller.EXPIRED:
                return [bearer(self.expired[role])]
            case Caller.REVOKED:
                return [bearer(self.revoked[role])]

    def account_of(self, caller: Caller, role: Role) -> Account | None:
        return {
            Caller.OWNER: self.owner(role),
            Caller.OTHER_LAB: self.other(role),
            Caller.OPERATOR: self.operator,
        }.get(caller)

    def secrets(self, include_twin: bool = True) -> list[str]:
        """Patient values that must never reach anyone but lab A."""
        records = [self.target, self.twin] if include_twin else [self.target]
        values: list[str] = []
        for record in records:
            values += [record.data.birth_name, record.data.first_names, record.data.nir or ""]
        return [v for v in values if v]

    def token_works(self, token: str) -> bool:
        response: httpx.Response = self.client.get(f"{API_PREFIX}/me", headers=bearer(token))
        assert response.status_code in (200, 401)
        return response.status_code == 200


def build_world(labs: TwoLabs) -> World:
    """The matrix's world over ``labs``: their accounts and tokens are copied, then extended."""
    platform, factory = labs.platform, labs.factory
    rng = random.Random()
    accounts, tokens = dict(labs.accounts), dict(labs.tokens)
    expired: dict[Role, str] = {}
    revoked: dict[Role, str] = {}
    for role in LAB_ROLES:
        account = accounts[("a", role)]
        issued = platform.accounts.issue_token(account, "to expire", dt.timedelta(hours=1))
        expire_token(platform, issued.id)
        expired[role] = issued.token
        issued = platform.accounts.issue_token(account, "to revoke", dt.timedelta(hours=1))
        platform.accounts.revoke_token(context_for(account), issued.id)
        revoked[role] = issued.token
    bench = labs.bench("a")
    ctx = bench.reception
    target = platform.patients.register(
        ctx, factory.patient_data(birth_name=distinctive_name(rng), first_names=distinctive_name(rng))
    )
    twin = platform.patients.register(
        ctx, factory.patient_data(birth_name=distinctive_name(rng), first_names=distinctive_name(rng))
    )
    dr_d, dr_e = physician_in(platform, ctx), physician_in(platform, ctx)
    for side, lab, physician in (
        ("a", labs.lab_a, dr_d),
        ("b", labs.lab_b, physician_in(platform, context_for(accounts[("b", Role.RECEPTION)]))),
    ):
        account = prescriber_account(platform, accounts[(side, Role.LAB_ADMIN)], lab, physician)
        accounts[(side, PRESCRIBER)] = account
        tokens[account.id] = token_for(platform, account)
    order = prescribed(bench, target.id, dr_d, "K", "NA", "GLU", "HIV")
    bench.enter(order, {"K": "4.2", "NA": "140", "GLU": "5.1", "HIV": "negative"})
    bench.validate(order, ["K", "NA", "GLU"])
    bench.release(order)
    flow = Flow(
        bench, order, prescribed(bench, target.id, dr_e, "K"), prescribed(bench, target.id, dr_d, "K")
    )
    shared = vars(labs) | {"accounts": accounts, "tokens": tokens}
    return World(**shared, expired=expired, revoked=revoked, target=target, twin=twin, flow=flow)


def physician_in(platform: Platform, ctx: AccessContext) -> uuid.UUID:
    """A physician registered in ``ctx``'s lab just now."""
    rng = random.Random()
    data = PhysicianData(generate_rpps(rng), distinctive_name(rng), distinctive_name(rng))
    return platform.physicians.register(ctx, data).id


def prescriber_account(platform: Platform, admin: Account, lab: LabInfo, physician_id: uuid.UUID) -> Account:
    """The prescriber account of ``physician_id``, created by the lab's admin."""
    account = platform.accounts.create_user(
        context_for(admin, Purpose.ADMINISTRATION),
        f"dr{uuid.uuid4().hex[:12]}",
        GIVEN_PASSWORD,
        PRESCRIBER,
        lab.id,
        physician_id=physician_id,
    )
    return own(platform, account)


def prescribed(bench: Bench, patient_id: uuid.UUID, prescriber_id: uuid.UUID, *tests: str) -> OrderRecord:
    """An order of ``prescriber_id`` for the patient, its tubes received."""
    return bench.order(patient_id, tests=tests, prescriber_id=prescriber_id)


# --- the rows ---------------------------------------------------------------------------------------


@dataclass
class Req:
    path: str
    json: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    caller: Caller
    account: Account | None  # the authenticated account, for (a), (b) and (c)


Build = Callable[[World, Attempt], Req]
Verify = Callable[[World, Attempt, Req, httpx.Response], None]


def _no_check(_world: World, _attempt: Attempt, _req: Req, _response: httpx.Response) -> None:
    return None


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    role: Role | None  # the owning lab's role that uses it; None: public route
    expect: dict[Caller, int]  # (a), (b), (c); public routes list every caller
    build: Build
    verify: Verify = _no_check
    echoes_input: bool = False  # (b) gets back what it sent itself
    single_use: bool = False  # the request uses up what it sends (a given password): built per send
    # A platform action on lab A's accounts: the operator's success is on lab A's chain (and alerted).
    tells_lab: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def expected(self, caller: Caller) -> int:
        if caller in self.expect:
            return self.expect[caller]
        assert caller in UNAUTHENTICATED and self.role is not None, f"no expectation for {caller}"
        return 401


def everyone(status: int) -> dict[Caller, int]:
    return dict.fromkeys(Caller, status)


def lab_side(owner: int, other: int, operator: int) -> dict[Caller, int]:
    """What (a), (b) and (c) get; the unauthenticated callers get 401 (:meth:`Route.expected`)."""
    return {Caller.OWNER: owner, Caller.OTHER_LAB: other, Caller.OPERATOR: operator}


def confined(owner: int) -> dict[Caller, int]:
    """A route on an object of lab A: another lab gets 404 (it cannot even learn that the id
    exists), the operator 403 (no standing access to a lab's data), no one 401."""
    return lab_side(owner, 404, 403)


def patient_ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["results"]]


def fresh_patient(world: World) -> PatientData:
    return world.factory.patient_data(birth_name=distinctive_name(random.Random()))


def fresh_code(world: World, account: Account) -> str:
    """A one-time code ``account`` may use now (enrolled on first use), as if none had been used:
    the same request body is sent once per kind of caller (and five times for garbage tokens)."""
    pool = pool_for(world.platform)
    return pool.fresh_code(account)


def recently_authenticated(world: World, attempt: Attempt) -> None:
    """The caller's token, re-authenticated just now (routes behind re-authentication)."""
    if attempt.account is not None:
        mark_reauthenticated(world.platform, world.tokens[attempt.account.id])


# --- paths and roles ------------------------------------------------------------------------------

ORDERS = f"{API_PREFIX}/orders"
RESULTS = f"{API_PREFIX}/results"
READS_RESULTS = (Role.TECHNICIAN, Role.BIOLOGIST)


def role_of(attempt: Attempt) -> Role:
    assert attempt.account is not None
    return attempt.account.role


def assert_restricted_policy(items: list[dict[str, Any]], role: Role) -> None:
    """HIV (restricted) only for biologists and the order's prescriber; result values only for
    roles that read results, and for the prescriber once a biologist signed them."""
    assert ("HIV" in {item["test_code"] for item in items}) is (role in (Role.BIOLOGIST, PRESCRIBER))
    for item in items:
        if role is PRESCRIBER:
            assert (item["result"] is not None) is (item["status"] == "validated"), item["test_code"]
            continue
        assert (item["result"] is not None) is (role in READS_RESULTS and item["status"] != "pending")


P = f"{API_PREFIX}/patients"
AUDIT = f"{API_PREFIX}/audit"
R, T, B, ADMIN = Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST, Role.LAB_ADMIN
DR = PRESCRIBER
SPECIMEN_OUTCOME = {"collect": "collected", "receive": "received", "reject": "rejected", "lookup": "awaited"}


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


@functools.cache
def all_routes() -> dict[tuple[str, str], Route]:
    """Every row of the matrix: the ``ROUTES`` of each test module of this package, one row per
    route. What the coverage test holds against the application's routes."""
    found: dict[tuple[str, str], Route] = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("test_"):
            continue
        for route in getattr(importlib.import_module(f"{__package__}.{module.name}"), "ROUTES", ()):
            assert route.key not in found, f"two rows for {route_id(route)}"
            found[route.key] = route
    return found


# --- the enumeration ------------------------------------------------------------------------------


def fastapi_app(asgi: object) -> FastAPI:
    """The FastAPI application inside the middleware wrappers of ``create_app``."""
    app = asgi
    for _ in range(10):
        if isinstance(app, FastAPI):
            return app
        app = getattr(app, "app", None)
    raise AssertionError(f"no FastAPI application inside {asgi!r}")


def enumerate_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the application serves, documentation excluded."""
    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    # FastAPI >= 0.16x keeps included routers nested; iter_route_contexts flattens them.
    flatten = getattr(fastapi_routing, "iter_route_contexts", None)
    routes: list[Any] = list(flatten(app.routes)) if flatten else list(app.routes)
    found: set[tuple[str, str]] = set()
    for route in routes:
        path = route.path_format or route.path
        if path in docs:
            continue
        methods = route.methods
        assert methods, f"route {path!r} ({type(route).__name__}) has no HTTP methods: not covered"
        found.update((method, path) for method in methods if method != "HEAD")
    return found


# --- the check every row runs -----------------------------------------------------------------------


def matrix_cases(routes: tuple[Route, ...]) -> list[Any]:
    """One case per row and kind of caller, named ``METHOD path-caller``."""
    return [
        pytest.param(route, caller, id=f"{route_id(route)}-{caller}") for route in routes for caller in Caller
    ]


def check_isolation(world: World, route: Route, caller: Caller) -> None:
    """Send the row's request as ``caller`` (once per header set: five garbage tokens), then check
    the status, ``WWW-Authenticate`` on a 401, that no answer to (b)..(f) shows lab A's patients,
    that lab A's rows and audit chain are unchanged by them, and the row's own verifier."""
    role = route.role or Role.RECEPTION
    attempt = Attempt(caller, world.account_of(caller, role))
    req = route.build(world, attempt)
    expected = route.expected(caller)
    for sent, headers in enumerate(world.headers(caller, role)):
        if sent and route.single_use:
            req = route.build(world, attempt)
        patients_before = row_count(world.platform, Patient, lab_id=world.lab_a.id)
        audit_before = audit_count(world.platform, world.lab_a.id)
        response = world.client.request(route.method, req.path, json=req.json, headers=headers)
        assert response.status_code == expected, (
            f"{route_id(route)} as {caller} ({headers.get('Authorization', 'no token')[:20]}): "
            f"{response.status_code} {response.text[:300]}"
        )
        if expected == 401:
            assert response.headers.get("www-authenticate") == "Bearer"
        if caller is not Caller.OWNER:
            include_twin = not (route.echoes_input and response.status_code < 400)
            text = response.text.lower()
            for value in world.secrets(include_twin):
                assert value.lower() not in text, f"{caller} got a value of lab A's patient"
            if route.role is not None:
                assert row_count(world.platform, Patient, lab_id=world.lab_a.id) == patients_before
                told = caller is Caller.OPERATOR and route.tells_lab and response.status_code < 400
                assert (audit_count(world.platform, world.lab_a.id) > audit_before) is told
        route.verify(world, attempt, req, response)
