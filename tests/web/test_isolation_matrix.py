"""The isolation matrix: every route of the API, tried by every kind of caller.

The routes are enumerated from the FastAPI application itself, and ``test_matrix_covers_every_route``
fails as soon as a route exists without a row here: a new endpoint cannot ship unexamined.

Callers (lab A owns the data: a patient P, a twin patient T, its accounts and tokens):

    (a) owner      a user of lab A in the route's role
    (b) other_lab  a user of lab B in the same role
    (c) operator   the platform operator (belongs to no lab)
    (d) anonymous  no Authorization header
    (e) garbage    an unknown ``lvt_`` token, a non-labvault token, an over-long token,
                   ``Bearer`` with no token, and a Basic credential
    (f) expired    a token of the (a) account whose expiry has passed
        revoked    a token of the (a) account that was revoked

Expected answers. Roles and operator rights follow ``labvault.security.permissions``: the operator
holds lab.manage, lab.users.manage, platform.users.manage, keys.manage and audit.read, and no
patient permission; lab roles never hold lab.manage; only lab_admin (of its own lab) manages users
and keys. Cross-lab object access answers 404, never 403, so that another lab cannot even learn
that an id exists.

    route                                 role        (a)        (b)                  (c)        (d)(e)(f)
    POST   /api/v1/auth/login             public      200        200                  200        200
    POST   /api/v1/auth/mfa/enroll        public      200        200                  200        200
    POST   /api/v1/auth/mfa/confirm       public      401 [10]   401                  401        401
    GET    /healthz                       public      200        200                  200        200
    GET    /api/v1/me                     reception   200 self   200 self             200 self   401
    POST   /api/v1/auth/reauth            reception   200 self   200 self             200 self   401
    POST   /api/v1/auth/password          reception   204 self   204 self             204 self   401
    POST   /api/v1/auth/security-keys/login/begin  public  200      200                  200        200
    POST   /api/v1/auth/security-keys/login/finish public  200      200                  200        200
    POST   .../security-keys/register/begin|finish reception 200|201 self (b), (c) self  401
    GET    /api/v1/auth/security-keys     reception   200 self   200 self             200 self   401
    DELETE /api/v1/auth/security-keys/{A's key} reception 204     404, key kept        404        401
    POST   .../security-keys/reauth/begin|finish   reception 200 self (b), (c) self      401
    POST   /api/v1/tokens                 reception   201 self   201 self             201 self   401
    DELETE /api/v1/tokens/{a's token}     reception   204        404, token kept      204 [1][13] 401
    POST   /api/v1/patients               reception   201        201 in B [2]         403        401
    GET    /api/v1/patients/{P}           reception   200        404                  403        401
    PATCH  /api/v1/patients/{P}           reception   200        404, P unchanged     403        401
    POST   /api/v1/patients/search/nir    reception   200 [P]    200 []               403        401
    POST   /api/v1/patients/search/ins    reception   200 [P]    200 []               403        401
    POST   /api/v1/patients/search/name   reception   200 [P]    200 []               403        401
    POST   /api/v1/physicians             reception   201        201 in B [9]         403        401
    POST   /api/v1/physicians/search      reception   200 [D]    404                  403        401
    GET    /api/v1/labs                   lab_admin   200 [A]    200 [B]              200 all    401
    POST   /api/v1/labs                   lab_admin   403 [3]    403                  201        401
    GET    /api/v1/labs/{A}               lab_admin   200        404                  200        401
    POST   /api/v1/labs/{A}/users         lab_admin   201        404, no user         403 [4]    401
    POST   /api/v1/labs/{A}/keys/rotate   lab_admin   200        404, no new key      200        401
    GET    /api/v1/audit/checkpoints      lab_admin   200 [A]    200 [B]              200 all    401
    GET    /api/v1/audit/proof/inclusion  lab_admin   200        404                  200        401
    GET    /api/v1/audit/proof/consistency lab_admin  200        404                  200        401
    POST   /api/v1/auth/password/initial  public      204        204                  204        204 [12]
    PATCH  /api/v1/users/{A's user}       lab_admin   200        404, unchanged       403 [4]    401
    POST   /api/v1/users/{A's user}/mfa/reset lab_admin 204      404, kept            403 [4]    401
    GET    /api/v1/alerts                 lab_admin   200 [A's]  200 [B's]            403        401
    POST   /api/v1/alerts/{A's}/acknowledge lab_admin 200        404, still open      403        401
    GET    /api/v1/account-actions        lab_admin   200 [A's]  200 [B's]            403        401
    POST   /api/v1/account-actions/{A's}/cancel lab_admin 200    404, still pending   403        401

Workflow routes. O is an order of P in lab A (K, NA and GLU validated and released as report v1; HIV,
a restricted test, entered but not validated), W another order of P whose K tube awaits entry. A
route that changes state gets a fresh order of P, brought to the stage it needs, for every call.

    route                                         role        (a)        (b)                    (c)   (d)-(f)
    POST   /api/v1/orders  (for P)                reception   201        404 [5], no order      403   401
    GET    /api/v1/orders/{O}                     reception   200 [6]    404                    403   401
    GET    /api/v1/patients/{P}/orders            reception   200 O, W   404                    403   401
    GET    /api/v1/orders/{O}/labels.pdf          reception   200 PDF    404                    403   401
    POST   /api/v1/specimens/collect              reception   200        404 [7], tube awaited  403   401
    POST   /api/v1/specimens/receive              reception   200        404 [7], tube awaited  403   401
    POST   /api/v1/specimens/reject               reception   200        404 [7], tube awaited  403   401
    POST   /api/v1/specimens/lookup               reception   200        404 [7]                403   401
    GET    /api/v1/worklist?section=biochemistry  technician  200 W's K  200, none of A's       403   401
    POST   /api/v1/results                        technician  201        422 [8], no result     403   401
    POST   /api/v1/results/validate/technical     technician  200        422 [8], not validated 403   401
    POST   /api/v1/results/validate/biological    biologist   200        422 [8], not validated 403   401
    POST   /api/v1/items/{K}/critical-call        biologist   201        404, no call           403   401
    GET    /api/v1/items/{O's K}/versions         technician  200        404                    403   401
    POST   /api/v1/orders/{O}/reports             biologist   201        404, no report         403   401
    GET    /api/v1/orders/{O}/reports             reception   200 [v1]   404                    403   401
    GET    /api/v1/orders/{O}/reports/1.pdf       reception   200 PDF    404                    403   401
    GET    /api/v1/patients/{P}/history           biologist   200        404                    403   401
    GET    /api/v1/patients/{P}/history.pdf       biologist   200 PDF    404                    403   401
    POST   /api/v1/break-glass  (for T)           technician  201 [11]   404, no override       403   401
    POST   /api/v1/support-grants                 lab_admin   201 [11]   201 in B               403   401
    GET    /api/v1/support-grants                 lab_admin   200 A's    200 B's                403   401
    DELETE /api/v1/support-grants/{A's grant}     lab_admin   200        404, not revoked       403   401
    GET    /api/v1/patients/{P}/access-log        biologist   200        404                    403   401

    [1] operators manage accounts, including revoking any account's token (AccountService).
    [2] (b) re-submits twin T's identity: it must be registered in lab B as a new patient, the
        duplicate check must not see lab A's T (no 409, no ``existing_ids`` naming T).
    [3] only platform operators create laboratories.
    [4] an operator only creates a lab's first administrator (lab A has one): no standing access.
    [5] lab B names P in the body: P is no patient of lab B.
    [6] result values only for the roles that read results, HIV only for biologists (the others
        are told one item is hidden); the same holds for (a)'s list of P's orders.
    [7] lab B scans a tube of lab A: barcodes are found through lab B's own blind index.
    [9] (b) re-submits the RPPS of a physician D just registered in lab A: registered in lab B,
        no 409 naming D.
    [8] ids inside a batch body name no object of the caller's lab: 422 naming the entry
        (``entries[0].item_id``), the same answer as for an id that exists nowhere.
    [10] a wrong code for a pending enrolment: no bearer token, valid or not, makes it succeed.
    [11] with the caller's token freshly re-authenticated. The glass is broken for twin T, who has
        no order: the override changes no other row's answer. The operator can act in lab A under
        a grant only with ``X-Support-Lab`` (tests/security/test_support_grants_api.py).
    [12] a new account of lab A, whose owner replaces the password its admin gave (public: no
        token matters); a given password works once only (tests/security/test_account_takeover.py).
    [13] on lab A's chain, with a high alert to its admins: the only request of a caller other than
        (a) that writes to lab A's audit log (a platform action on the lab's accounts).

Routes behind re-authentication (creating tokens and users, changing accounts) are called with the
caller's token freshly re-authenticated (``mark_reauthenticated``); test_sessions_api covers the
refusal without it. Codes are single-use; the matrix gives each request a code as if none had been
used (``fresh_code``): replay is test_mfa's business, not who-may-call-what.

On top of the status:
- every 401 carries ``WWW-Authenticate: Bearer``;
- no answer to (b)..(f) contains P's or T's birth name, first names or NIR (except the T values
  (b) itself submitted in [2]);
- no request of (b)..(f) changes lab A's patient rows or lab A's audit chain.

``test_roles_within_the_owning_lab`` adds the per-role matrix inside lab A (from permissions.py).
The prescriber is Dr D's account; D prescribed O (and V, a received K awaiting entry), another
physician E prescribed W; P has O, V and W, twin T has no order.

    route                                  reception  technician  biologist  lab_admin  prescriber
    GET    /api/v1/me, POST .../auth/reauth 200       200         200        200        200
    POST   /api/v1/tokens                  201        201         201        201        201
    POST   /api/v1/patients                201        403         201        201        403
    GET    /api/v1/patients/{P}            200        200         200        200        200 [p]
    PATCH  /api/v1/patients/{P}            200        403         200        200        403
    POST   /api/v1/patients/search/*       200        200         200        200        200 [P] [p]
    POST   /api/v1/physicians              201        403         201        201        403
    POST   /api/v1/physicians/search       200        200         200        200        403
    GET    /api/v1/labs, /api/v1/labs/{A}  200        200         200        200        200
    POST   /api/v1/labs                    403        403         403        403        403
    POST   /api/v1/labs/{A}/users          403        403         403        201        403
    POST   /api/v1/labs/{A}/keys/rotate    403        403         403        200        403
    GET    /api/v1/audit/*                 403        403         403        200        403
    POST   /api/v1/orders                  201        403         201        403        403
    GET    /api/v1/orders/{O}              200        200         200        403        200 [q]
    GET    /api/v1/patients/{P}/orders     200        200         200        403        200 O, V [q]
    GET    /api/v1/orders/{O}/labels.pdf   200        200         200        403        403
    POST   /api/v1/specimens/*             200        200         200        403        403
    GET    /api/v1/worklist                403        200         200        403        200 V's K [q]
    POST   /api/v1/results                 403        201         201        403        403
    POST   .../results/validate/technical  403        200         200        403        403
    POST   .../results/validate/biological 403        403         200        403        403
    POST   /api/v1/items/{K}/critical-call 403        201         201        403        403
    GET    /api/v1/items/{K}/versions      403        200         200        403        200 [q]
    POST   /api/v1/orders/{O}/reports      403        403         201        403        403
    GET    /api/v1/orders/{O}/reports      200        403         200        403        200 [q]
    GET    .../orders/{O}/reports/1.pdf    200        403         200        403        200 [q]
    GET    /api/v1/patients/{P}/history*   403        200         200        403        200 [p]
    POST   /api/v1/break-glass             201        201         409        403        403
    /api/v1/support-grants (all three)     403        403         403        201/200    403
    GET    /api/v1/patients/{P}/access-log 403        403         200        200        403

    [p] P has an order of D's; for T (no order of D's) the same routes answer 403, and searches
        for T find nothing (``test_the_prescriber_is_held_to_their_own_orders``).
    [q] D's own order; on W (E's order of the same patient) every one of these answers 403 with
        the policy's reason, W is left out of P's orders and of the worklist, and lab B's
        prescriber gets 404 on O, V and P, all without a change to lab A's audit chain.
        Result values: only the results a biologist signed (HIV, entered but not validated, is
        shown as a test of D's order, without its value).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from sqlalchemy import func, select

from labvault.identity.account_action_models import PendingAccountAction
from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientData, PatientRecord
from labvault.identity.physician_service import PhysicianData, PhysicianRecord
from labvault.identity.synthetic import generate_finess, generate_rpps
from labvault.keys.models import LabKey
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.alert_models import Alert
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.grant_models import AccessOverride, SupportGrant
from labvault.security.models import AuditEvent
from labvault.security.signed_checkpoint import NoteVerifier
from labvault.store.base import utcnow
from labvault.web.app import API_PREFIX, create_app
from labvault.workflow.models import CriticalCall, Order, OrderItem, Report, Result, Specimen
from labvault.workflow.order_data import OrderRecord, OrderRequest
from tests.auth_helpers import Authenticator, forget_code_use, mark_reauthenticated, pool_for
from tests.conftest import GIVEN_PASSWORD, TEST_PASSWORD, Factory, own
from tests.web import matrix_security_keys
from tests.web.support import (
    Bench,
    TestClient,
    app_client,
    assert_pdf_download,
    audit_count,
    bearer,
    expire_token,
    patient_count,
    patient_json,
    row_count,
    row_value,
    token_for,
    user_count,
)


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
LAB_ROLES = (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST, Role.LAB_ADMIN)
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
class World:
    """Two labs with accounts in every role, an operator, two patients of lab A and P's orders."""

    platform: Platform
    client: TestClient
    factory: Factory
    lab_a: LabInfo
    lab_b: LabInfo
    operator: Account
    accounts: dict[tuple[str, Role], Account]
    tokens: dict[uuid.UUID, str]
    expired: dict[Role, str]
    revoked: dict[Role, str]
    target: PatientRecord
    twin: PatientRecord
    flow: Flow

    def owner(self, role: Role) -> Account:
        return self.accounts[("a", role)]

    def other(self, role: Role) -> Account:
        return self.accounts[("b", role)]

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


@pytest.fixture(scope="module")
def world(platform: Platform) -> Iterator[World]:
    factory = Factory(platform)
    rng = random.Random()
    lab_a, lab_b = factory.lab("Laboratoire A"), factory.lab("Laboratoire B")
    accounts: dict[tuple[str, Role], Account] = {}
    for side, lab in (("a", lab_a), ("b", lab_b)):
        for role in LAB_ROLES:
            accounts[(side, role)] = factory.user(lab, role)
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    tokens = {account.id: token_for(platform, account) for account in [*accounts.values(), operator]}
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
    ctx = context_for(accounts[("a", Role.RECEPTION)])
    target = platform.patients.register(
        ctx, factory.patient_data(birth_name=distinctive_name(rng), first_names=distinctive_name(rng))
    )
    twin = platform.patients.register(
        ctx, factory.patient_data(birth_name=distinctive_name(rng), first_names=distinctive_name(rng))
    )
    bench = Bench(
        platform,
        accounts[("a", Role.RECEPTION)],
        accounts[("a", Role.TECHNICIAN)],
        accounts[("a", Role.BIOLOGIST)],
    )
    dr_d, dr_e = physician_in(platform, ctx), physician_in(platform, ctx)
    for side, lab, physician in (
        ("a", lab_a, dr_d),
        ("b", lab_b, physician_in(platform, context_for(accounts[("b", Role.RECEPTION)]))),
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
    with app_client(platform, login_rate_limit=100_000) as client:  # the limit: test_lockout_api
        yield World(
            platform,
            client,
            factory,
            lab_a,
            lab_b,
            operator,
            accounts,
            tokens,
            expired,
            revoked,
            target,
            twin,
            flow,
        )


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
    """An order of ``prescriber_id`` for the patient, its tubes received (``Bench.order`` names none)."""
    reception = bench.ctx(bench.reception)
    request = OrderRequest(patient_id=patient_id, tests=tests, prescriber_id=prescriber_id)
    record = bench.platform.orders.create(reception, request)
    for specimen in record.specimens:
        bench.platform.specimens.receive(reception, specimen.barcode)
    return record


# --- the routes -----------------------------------------------------------------------------------


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
    return {Caller.OWNER: owner, Caller.OTHER_LAB: other, Caller.OPERATOR: operator}


def patient_ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["results"]]


def fresh_patient(world: World) -> PatientData:
    return world.factory.patient_data(birth_name=distinctive_name(random.Random()))


# login ---------------------------------------------------------------------------------------------


def fresh_code(world: World, account: Account) -> str:
    """A one-time code ``account`` may use now (enrolled on first use), as if none had been used:
    the same request body is sent once per kind of caller (and five times for garbage tokens)."""
    pool = pool_for(world.platform)
    return pool.fresh_code(account)


def recently_authenticated(world: World, attempt: Attempt) -> None:
    """The caller's token, re-authenticated just now (routes behind re-authentication)."""
    if attempt.account is not None:
        mark_reauthenticated(world.platform, world.tokens[attempt.account.id])


def build_login(world: World, _attempt: Attempt) -> Req:
    owner = world.owner(Role.RECEPTION)
    return Req(
        f"{API_PREFIX}/auth/login",
        {"username": owner.username, "password": TEST_PASSWORD, "totp_code": fresh_code(world, owner)},
    )


def verify_login(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    token = response.json()["access_token"]
    me = world.client.get(f"{API_PREFIX}/me", headers=bearer(token))
    assert me.json()["id"] == str(world.owner(Role.RECEPTION).id)
    forget_code_use(world.platform, world.owner(Role.RECEPTION).username)


def lab_a_user(world: World) -> Account:
    """A new technician of lab A, created by its admin."""
    creator = context_for(world.owner(Role.LAB_ADMIN))
    username = f"t{uuid.uuid4().hex[:12]}"
    account = world.platform.accounts.create_user(
        creator, username, GIVEN_PASSWORD, Role.TECHNICIAN, world.lab_a.id
    )
    return own(world.platform, account)


def build_mfa_enroll(world: World, _attempt: Attempt) -> Req:
    user = lab_a_user(world)
    return Req(f"{API_PREFIX}/auth/mfa/enroll", {"username": user.username, "password": TEST_PASSWORD})


def verify_mfa_enroll(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    assert response.json()["otpauth_uri"].startswith(f"otpauth://totp/labvault:{req.json['username']}")
    assert world.platform.accounts.by_username(req.json["username"]).mfa_enabled is False


def build_mfa_confirm(world: World, _attempt: Attempt) -> Req:
    user = lab_a_user(world)
    secret = world.platform.accounts.mfa.begin_enrollment(user.username, TEST_PASSWORD).secret
    wrong = f"{(int(Authenticator(secret).code()) + 1) % 1_000_000:06d}"
    body = {"username": user.username, "password": TEST_PASSWORD, "totp_code": wrong}
    return Req(f"{API_PREFIX}/auth/mfa/confirm", body)


def verify_mfa_confirm(world: World, _attempt: Attempt, req: Req, _response: httpx.Response) -> None:
    assert req.json is not None
    assert world.platform.accounts.by_username(req.json["username"]).mfa_enabled is False


def build_reauth(world: World, attempt: Attempt) -> Req:
    code = fresh_code(world, attempt.account) if attempt.account is not None else "123456"
    return Req(f"{API_PREFIX}/auth/reauth", {"password": TEST_PASSWORD, "totp_code": code})


def verify_reauth(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        caller = world.platform.accounts.resolve_token(world.tokens[attempt.account.id])
        assert caller.reauthenticated_at is not None
        assert response.json()["reauthenticated_at"].startswith(caller.reauthenticated_at.date().isoformat())


def build_password_change(world: World, attempt: Attempt) -> Req:
    code = fresh_code(world, attempt.account) if attempt.account is not None else "123456"
    body = {"current_password": TEST_PASSWORD, "totp_code": code, "new_password": TEST_PASSWORD}
    return Req(f"{API_PREFIX}/auth/password", body)


def verify_password_change(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is None:
        return
    # Every token of the caller is revoked; the world's next rows get a new one.
    assert not world.token_works(world.tokens[attempt.account.id])
    world.tokens[attempt.account.id] = token_for(world.platform, attempt.account)


def build_update_user(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    target = lab_a_user(world)
    return Req(
        f"{API_PREFIX}/users/{target.id}", {"role": "biologist"}, context={"username": target.username}
    )


def verify_update_user(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    role = world.platform.accounts.by_username(req.context["username"]).role
    assert role is (Role.BIOLOGIST if response.status_code == 200 else Role.TECHNICIAN)


def build_mfa_reset(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    target = lab_a_user(world)
    fresh_code(world, target)  # enrolled
    return Req(f"{API_PREFIX}/users/{target.id}/mfa/reset", context={"username": target.username})


def verify_mfa_reset(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    enabled = world.platform.accounts.by_username(req.context["username"]).mfa_enabled
    assert enabled is (response.status_code != 204)


def build_initial_password(world: World, _attempt: Attempt) -> Req:
    """A new account of lab A whose owner replaces the password they were given (public route)."""
    creator = context_for(world.owner(Role.LAB_ADMIN))
    username = f"n{uuid.uuid4().hex[:12]}"
    world.platform.accounts.create_user(creator, username, GIVEN_PASSWORD, Role.TECHNICIAN, world.lab_a.id)
    body = {"username": username, "password": GIVEN_PASSWORD, "new_password": TEST_PASSWORD}
    return Req(f"{API_PREFIX}/auth/password/initial", body, context={"username": username})


def verify_initial_password(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 204:  # the owner's password now: it starts an enrolment
        world.platform.accounts.mfa.begin_enrollment(req.context["username"], TEST_PASSWORD)


def pending_admin_reset(world: World) -> uuid.UUID:
    """The operator's pending request to reset lab A's admin's factor (lab A's admin enrolled)."""
    admin = world.owner(Role.LAB_ADMIN)
    fresh_code(world, admin)
    action = world.platform.accounts.reset_mfa(context_for(world.operator, Purpose.ADMINISTRATION), admin.id)
    assert action is not None, "lab A has an established admin: the operator's reset waits"
    return action.id


def build_list_account_actions(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/account-actions", context={"action": str(pending_admin_reset(world))})


def verify_list_account_actions(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        listed = [action["id"] for action in response.json()]
        assert (req.context["action"] in listed) is (attempt.caller is Caller.OWNER)


def build_cancel_account_action(world: World, attempt: Attempt) -> Req:
    action_id = pending_admin_reset(world)
    return Req(f"{API_PREFIX}/account-actions/{action_id}/cancel", context={"action": str(action_id)})


def verify_cancel_account_action(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    with world.platform.db.owner_engine.connect() as conn:
        status = conn.execute(
            select(PendingAccountAction.__table__.c.status).where(
                PendingAccountAction.__table__.c.id == uuid.UUID(req.context["action"])
            )
        ).scalar_one()
    assert (status == "cancelled") is (response.status_code == 200)


def build_create_token(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    return Req(f"{API_PREFIX}/tokens", {"label": "matrix", "ttl_hours": 1})


# me and tokens ------------------------------------------------------------------------------------


def verify_me(_world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        assert response.json()["id"] == str(attempt.account.id)
        assert response.json()["lab_id"] == (str(attempt.account.lab_id) if attempt.account.lab_id else None)


def verify_new_token(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        token = response.json()["access_token"]
        me = world.client.get(f"{API_PREFIX}/me", headers=bearer(token))
        assert me.json()["id"] == str(attempt.account.id)


def build_revoke(world: World, _attempt: Attempt) -> Req:
    issued = world.platform.accounts.issue_token(
        world.owner(Role.RECEPTION), "revoke me", dt.timedelta(hours=1)
    )
    return Req(f"{API_PREFIX}/tokens/{issued.id}", context={"token": issued.token})


def verify_revoke(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    revoked = response.status_code == 204
    assert world.token_works(req.context["token"]) is not revoked
    if attempt.caller in (Caller.OWNER, Caller.OPERATOR):
        assert revoked


# patients -----------------------------------------------------------------------------------------


def build_create_patient(world: World, attempt: Attempt) -> Req:
    if attempt.caller is Caller.OWNER:
        return Req(f"{API_PREFIX}/patients", patient_json(fresh_patient(world)))
    return Req(f"{API_PREFIX}/patients", patient_json(world.twin.data))


def verify_create_patient(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 201:
        return
    assert attempt.account is not None
    body = response.json()
    assert body["lab_id"] == str(attempt.account.lab_id)
    if attempt.caller is Caller.OTHER_LAB:
        assert body["id"] != str(world.twin.id)
        assert str(world.twin.id) not in response.text
        assert str(world.lab_a.id) not in response.text


def build_read_patient(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/patients/{world.target.id}")


def verify_read_patient(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert response.json()["id"] == str(world.target.id)
        assert response.json()["nir"] == world.target.data.nir


def build_patch_patient(world: World, attempt: Attempt) -> Req:
    return Req(
        f"{API_PREFIX}/patients/{world.target.id}", {"note": f"changed by {attempt.caller} {uuid.uuid4()}"}
    )


def verify_patch_patient(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    stored = world.platform.patients.get(context_for(world.owner(Role.RECEPTION)), world.target.id)
    assert (stored.data.note == req.json["note"]) is (response.status_code == 200)


def search_builder(kind: str) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        data = world.target.data
        bodies: dict[str, dict[str, Any]] = {
            "nir": {"nir": data.nir},
            "ins": {"ins": data.ins},
            "name": {"name": data.birth_name.upper(), "birth_date": data.birth_date.isoformat()},
        }
        body = bodies[kind]
        return Req(f"{API_PREFIX}/patients/search/{kind}", body)

    return build


def verify_search(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.caller is Caller.OWNER:
        assert patient_ids(response) == [str(world.target.id)]
    elif attempt.caller is Caller.OTHER_LAB:
        assert patient_ids(response) == []


# physicians ---------------------------------------------------------------------------------------


def physician_of_lab_a(world: World) -> PhysicianRecord:
    """A physician D registered in lab A just now, through the service."""
    rng = random.Random()
    data = PhysicianData(generate_rpps(rng), distinctive_name(rng), distinctive_name(rng))
    return world.platform.physicians.register(context_for(world.owner(Role.RECEPTION)), data)


def build_register_physician(world: World, attempt: Attempt) -> Req:
    rng = random.Random()
    if attempt.caller is Caller.OWNER:
        body = {"rpps": generate_rpps(rng), "family_name": distinctive_name(rng), "given_names": "Jeanne"}
        return Req(f"{API_PREFIX}/physicians", body)
    known = physician_of_lab_a(world)
    body = {"rpps": known.data.rpps, "family_name": known.data.family_name, "given_names": "Jeanne"}
    return Req(f"{API_PREFIX}/physicians", body, context={"known": str(known.id)})


def verify_register_physician(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code != 201:
        return
    assert attempt.account is not None
    assert response.json()["lab_id"] == str(attempt.account.lab_id)
    known = req.context.get("known")
    if known is not None:
        assert known not in response.text and str(world.lab_a.id) not in response.text


def build_find_physician(world: World, _attempt: Attempt) -> Req:
    known = physician_of_lab_a(world)
    return Req(f"{API_PREFIX}/physicians/search", {"rpps": known.data.rpps}, context={"known": known})


def verify_find_physician(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    known: PhysicianRecord = req.context["known"]
    if response.status_code == 200:
        assert response.json()["id"] == str(known.id)
    else:
        assert str(known.id) not in response.text and known.data.family_name not in response.text


# labs ---------------------------------------------------------------------------------------------


def build_list_labs(_world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/labs")


def verify_list_labs(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    ids = {lab["id"] for lab in response.json()}
    a, b = str(world.lab_a.id), str(world.lab_b.id)
    if attempt.caller is Caller.OWNER:
        assert ids == {a}
    elif attempt.caller is Caller.OTHER_LAB:
        assert ids == {b}
    elif attempt.caller is Caller.OPERATOR:
        assert {a, b} <= ids


def build_create_lab(world: World, _attempt: Attempt) -> Req:
    code = f"M{uuid.uuid4().hex[:8].upper()}"
    finess = generate_finess(random.Random())
    return Req(f"{API_PREFIX}/labs", {"code": code, "name": "Laboratoire matrice", "finess": finess})


def verify_create_lab(_world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    if response.status_code == 201:
        assert response.json()["code"] == req.json["code"]


def build_read_lab(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/labs/{world.lab_a.id}")


def verify_read_lab(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert response.json()["id"] == str(world.lab_a.id)


def build_create_user(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    username = f"m{uuid.uuid4().hex[:12]}"
    return Req(
        f"{API_PREFIX}/labs/{world.lab_a.id}/users",
        {"username": username, "password": TEST_PASSWORD, "role": "technician"},
    )


def verify_create_user(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    created = response.status_code == 201
    assert user_count(world.platform, req.json["username"]) == int(created)
    if created:
        assert response.json()["lab_id"] == str(world.lab_a.id)


def key_versions(platform: Platform, lab_id: uuid.UUID) -> int:
    table = LabKey.__table__
    with platform.db.owner_engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.lab_id == lab_id)
        return int(conn.execute(query).scalar_one())


def build_rotate(world: World, _attempt: Attempt) -> Req:
    return Req(
        f"{API_PREFIX}/labs/{world.lab_a.id}/keys/rotate",
        context={"keys": key_versions(world.platform, world.lab_a.id)},
    )


def verify_rotate(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    rotated = response.status_code == 200
    assert key_versions(world.platform, world.lab_a.id) == req.context["keys"] + int(rotated)
    if rotated:
        assert response.json()["lab_id"] == str(world.lab_a.id)


# audit (what witnesses poll) ------------------------------------------------------------------------

AUDIT = f"{API_PREFIX}/audit"


def build_audit_checkpoints(world: World, _attempt: Attempt) -> Req:
    world.platform.audit.checkpoint_heads()  # every chain signed, labs A and B included
    return Req(f"{AUDIT}/checkpoints")


def verify_audit_checkpoints(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    heads = response.json()["checkpoints"]
    chains = {head["chain"] for head in heads}
    a, b = str(world.lab_a.id), str(world.lab_b.id)
    expected = {Caller.OWNER: {a}, Caller.OTHER_LAB: {b}}.get(attempt.caller)
    assert chains == expected if expected is not None else {a, b, "platform"} <= chains
    verifier = NoteVerifier.parse(world.platform.audit.public_key())
    assert all(verifier.open(head["note"]) for head in heads)


def audit_proof_builder(kind: str) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        query = "seq=1&size=2" if kind == "inclusion" else "first=1&second=2"
        return Req(f"{AUDIT}/proof/{kind}?chain={world.lab_a.id}&{query}")

    return build


def verify_audit_proof(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        body = response.json()
        assert body["chain"] == str(world.lab_a.id) and len(body["proof"]) == 1


def build_healthz(_world: World, _attempt: Attempt) -> Req:
    return Req("/healthz")


# workflow -----------------------------------------------------------------------------------------

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


def build_create_order(world: World, _attempt: Attempt) -> Req:
    count = row_count(world.platform, Order, patient_id=world.target.id)
    body = {"patient_id": str(world.target.id), "tests": ["K", "NA"], "urgent": True}
    return Req(ORDERS, body, context={"orders": count})


def verify_create_order(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    created = response.status_code == 201
    assert row_count(world.platform, Order, patient_id=world.target.id) == req.context["orders"] + int(
        created
    )
    if created:
        body = response.json()
        assert body["patient_id"] == str(world.target.id)
        assert [item["test_code"] for item in body["items"]] == ["K", "NA"]
        assert [specimen["status"] for specimen in body["specimens"]] == ["awaited"]


def build_read_order(world: World, _attempt: Attempt) -> Req:
    return Req(f"{ORDERS}/{world.flow.order.id}")


def verify_read_order(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    body = response.json()
    assert body["id"] == str(world.flow.order.id)
    role = role_of(attempt)
    assert body["hidden_items"] == (0 if role in (Role.BIOLOGIST, PRESCRIBER) else 1)
    assert_restricted_policy(body["items"], role)


def build_patient_orders(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/patients/{world.target.id}/orders")


def verify_patient_orders(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    orders = {order["id"]: order for order in response.json()["results"]}
    own = {str(world.flow.order.id), str(world.flow.own_waiting.id)}
    if role_of(attempt) is PRESCRIBER:
        assert set(orders) == own, "only the orders the prescriber prescribed"
    else:
        assert own | {str(world.flow.waiting.id)} <= set(orders)
    assert all(order["patient_id"] == str(world.target.id) for order in orders.values())
    assert_restricted_policy(orders[str(world.flow.order.id)]["items"], role_of(attempt))


def build_labels(world: World, _attempt: Attempt) -> Req:
    return Req(f"{ORDERS}/{world.flow.order.id}/labels.pdf")


def verify_labels(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    text = assert_pdf_download(response, f"labels-{world.flow.order.accession}.pdf")
    assert world.target.data.birth_name.upper() not in text.upper()  # initials only by default
    assert world.target.data.birth_date.strftime("%d/%m/%Y") in text


SPECIMEN_OUTCOME = {"collect": "collected", "receive": "received", "reject": "rejected", "lookup": "awaited"}


def specimen_builder(action: str) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        order = world.flow.bench.order(world.target.id, "K", receive=False)
        specimen = order.specimens[0]
        body: dict[str, Any] = {"barcode": specimen.barcode}
        if action == "reject":
            body |= {"reason": "haemolysed", "comment": "tube rouge vif"}
        return Req(
            f"{API_PREFIX}/specimens/{action}", body, context={"order": order.id, "specimen": specimen.id}
        )

    return build


def specimen_verifier(action: str) -> Verify:
    def verify(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
        done = response.status_code == 200
        status = row_value(world.platform, Specimen, req.context["specimen"], "status")
        assert status == (SPECIMEN_OUTCOME[action] if done else "awaited")
        replaced = action == "reject" and done
        assert row_count(world.platform, Specimen, order_id=req.context["order"]) == 1 + int(replaced)
        if done:
            assert response.json()["id"] == str(req.context["specimen"])
            assert response.json()["status"] == SPECIMEN_OUTCOME[action]

    return verify


def build_worklist(_world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/worklist?section=biochemistry&stage=entry")


def verify_worklist(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    waiting = str(Bench.items(world.flow.waiting)["K"])
    own_waiting = str(Bench.items(world.flow.own_waiting)["K"])
    items = {line["item_id"] for line in response.json()}
    if attempt.caller is Caller.OWNER and role_of(attempt) is PRESCRIBER:
        assert own_waiting in items and waiting not in items
        assert {line["order_id"] for line in response.json()} <= {
            str(world.flow.order.id),
            str(world.flow.own_waiting.id),
        }
    elif attempt.caller is Caller.OWNER:
        assert {waiting, own_waiting} <= items
    else:
        assert waiting not in items
        assert str(world.flow.waiting.id) not in response.text


def build_enter(world: World, _attempt: Attempt) -> Req:
    item = Bench.items(world.flow.bench.order(world.target.id, "K"))["K"]
    return Req(RESULTS, {"entries": [{"item_id": str(item), "value": "4.4"}]}, context={"item": item})


def verify_enter(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    entered = response.status_code == 201
    assert row_count(world.platform, Result, order_item_id=req.context["item"]) == int(entered)
    if entered:
        assert [(r["value"], r["flag"], r["version"]) for r in response.json()] == [("4.4", "N", 1)]


def validation_builder(biological: bool) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        bench = world.flow.bench
        order = bench.order(world.target.id, "K")
        bench.enter(order, {"K": "4.4"})
        if biological:
            bench.validate(order, ["K"], biological=False)
        item = Bench.items(order)["K"]
        stage = "biological" if biological else "technical"
        before, after = ("tech_validated", "validated") if biological else ("entered", "tech_validated")
        return Req(
            f"{RESULTS}/validate/{stage}",
            {"item_ids": [str(item)]},
            context={"item": item, "before": before, "after": after},
        )

    return build


def verify_validation(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    done = response.status_code == 200
    status = row_value(world.platform, OrderItem, req.context["item"], "status")
    assert status == req.context["after" if done else "before"]
    if done:
        assert response.json() == {"validated": 1}


def build_critical_call(world: World, _attempt: Attempt) -> Req:
    bench = world.flow.bench
    order = bench.order(world.target.id, "K")
    bench.enter(order, {"K": "7.5"})  # above the critical limit: HH
    item = Bench.items(order)["K"]
    result = row_value(world.platform, OrderItem, item, "current_result_id")
    body = {"called_party": "Dr Garde, urgences", "method": "phone", "note": "rappel dans 1 h"}
    return Req(f"{API_PREFIX}/items/{item}/critical-call", body, context={"result": result})


def verify_critical_call(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    called = response.status_code == 201
    assert row_count(world.platform, CriticalCall, result_id=req.context["result"]) == int(called)


def build_versions(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/items/{world.flow.order_items['K']}/versions")


def verify_versions(_world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert [(v["version"], v["value"], v["status"]) for v in response.json()] == [(1, "4.2", "validated")]


def build_release(world: World, _attempt: Attempt) -> Req:
    bench = world.flow.bench
    order = bench.order(world.target.id, "K")
    bench.enter(order, {"K": "4.4"})
    bench.validate(order, ["K"])
    return Req(f"{ORDERS}/{order.id}/reports", context={"order": order.id})


def verify_release(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    released = response.status_code == 201
    assert row_count(world.platform, Report, order_id=req.context["order"]) == int(released)
    if released:
        body = response.json()
        assert (body["order_id"], body["version"], body["kind"], body["results"]) == (
            str(req.context["order"]),
            1,
            "final",
            1,
        )


def build_list_reports(world: World, _attempt: Attempt) -> Req:
    return Req(f"{ORDERS}/{world.flow.order.id}/reports")


def verify_list_reports(_world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        reports = response.json()
        assert [(r["version"], r["kind"], r["restricted"], r["results"]) for r in reports] == [
            (1, "partial", False, 3)
        ]


def build_report_pdf(world: World, _attempt: Attempt) -> Req:
    return Req(f"{ORDERS}/{world.flow.order.id}/reports/1.pdf")


def verify_report_pdf(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code != 200:
        return
    text = assert_pdf_download(response, "report-v1.pdf")
    assert world.flow.order.accession in text
    assert "4.2" in text and "140" in text
    assert "VIH 1/2" not in text  # HIV is not validated: a restricted pending test is left off the report


def build_history(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/patients/{world.target.id}/history")


def verify_history(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        body = response.json()
        assert body["patient_id"] == str(world.target.id)
        assert {"K", "NA", "GLU"} <= {series["test_code"] for series in body["series"]}


def build_history_pdf(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/patients/{world.target.id}/history.pdf")


def verify_history_pdf(_world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert "Potassium" in assert_pdf_download(response, "cumulative-history.pdf")


# break-the-glass, support grants, access log -------------------------------------------------------

GLASS_REASON = "Urgence vitale: biologiste de garde injoignable"
GRANT_REASON = "Ticket 1234: import des résultats bloqué"


def build_break_glass(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    return Req(f"{API_PREFIX}/break-glass", {"patient_id": str(world.twin.id), "reason": GLASS_REASON})


def verify_break_glass(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is None:
        return
    opened = row_count(world.platform, AccessOverride, actor_id=attempt.account.id, patient_id=world.twin.id)
    if response.status_code == 201:
        assert response.json()["patient_id"] == str(world.twin.id) and opened >= 1
    else:
        assert opened == 0


def build_grant_support(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    body = {"operator": world.operator.username, "hours": 1, "reason": GRANT_REASON}
    return Req(f"{API_PREFIX}/support-grants", body)


def verify_grant_support(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 201:
        assert attempt.account is not None
        body = response.json()
        assert (body["lab_id"], body["operator_id"], body["active"]) == (
            str(attempt.account.lab_id),
            str(world.operator.id),
            True,
        )


def verify_list_grants(_world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert attempt.account is not None
        assert {grant["lab_id"] for grant in response.json()} <= {str(attempt.account.lab_id)}


def build_revoke_grant(world: World, _attempt: Attempt) -> Req:
    admin = dataclasses.replace(world.owner(Role.LAB_ADMIN), reauthenticated_at=utcnow())
    grant = world.platform.support.grant(admin, context_for(admin), world.operator.username, 1, GRANT_REASON)
    return Req(f"{API_PREFIX}/support-grants/{grant.id}", context={"grant": grant.id})


def verify_revoke_grant(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    revoked = row_value(world.platform, SupportGrant, req.context["grant"], "revoked_at") is not None
    assert revoked is (response.status_code == 200)


def build_access_log(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/patients/{world.target.id}/access-log")


def verify_access_log(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert attempt.account is not None
        body = response.json()
        assert body["patient_id"] == str(world.target.id)
        newest = body["entries"][0]
        assert (newest["action"], newest["role"], newest["who"]) == (
            "patient.access_log.read",
            attempt.account.role.value,
            attempt.account.username,  # the matrix's accounts have no full name
        )


# alerts -------------------------------------------------------------------------------------------


def alert_of_lab_a(world: World) -> uuid.UUID:
    with world.platform.db.transaction(world.lab_a.id) as session:
        return raise_alert(
            session, context_for(world.owner(Role.RECEPTION)), AlertSpec("matrix", Severity.LOW)
        )


def build_list_alerts(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/alerts", context={"alert": str(alert_of_lab_a(world))})


def verify_list_alerts(_world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        shown = {alert["id"] for alert in response.json()["alerts"]}
        assert (req.context["alert"] in shown) is (attempt.caller is Caller.OWNER)


def build_ack_alert(world: World, _attempt: Attempt) -> Req:
    alert = alert_of_lab_a(world)
    return Req(f"{API_PREFIX}/alerts/{alert}/acknowledge", context={"alert": alert})


def verify_ack_alert(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    acknowledged = row_value(world.platform, Alert, req.context["alert"], "acknowledged_at") is not None
    assert acknowledged is (response.status_code == 200)


P = f"{API_PREFIX}/patients"
R, T, B, ADMIN = Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST, Role.LAB_ADMIN


def _keys_route(method: str, tail: str, role: Role | None, expect: dict[Caller, int], name: str) -> Route:
    """A security-key route row; builders in tests/web/matrix_security_keys.py."""
    build = getattr(matrix_security_keys, f"build_{name}")
    return Route(
        method,
        f"{matrix_security_keys.KEYS}{tail}",
        role,
        expect,
        lambda world, attempt: build(world, attempt, Req),
        getattr(matrix_security_keys, f"verify_{name}"),
    )


ROUTES: tuple[Route, ...] = (
    _keys_route("POST", "/login/begin", None, everyone(200), "login_begin"),
    _keys_route("POST", "/login/finish", None, everyone(200), "login_finish"),
    _keys_route("POST", "/register/begin", Role.RECEPTION, lab_side(200, 200, 200), "register_begin"),
    _keys_route("POST", "/register/finish", Role.RECEPTION, lab_side(201, 201, 201), "register_finish"),
    _keys_route("GET", "", Role.RECEPTION, lab_side(200, 200, 200), "list_keys"),
    _keys_route("DELETE", "/{key_id}", Role.RECEPTION, lab_side(204, 404, 404), "remove_key"),
    _keys_route("POST", "/reauth/begin", Role.RECEPTION, lab_side(200, 200, 200), "reauth_begin"),
    _keys_route("POST", "/reauth/finish", Role.RECEPTION, lab_side(200, 200, 200), "reauth_finish"),
    Route("POST", f"{API_PREFIX}/auth/login", None, everyone(200), build_login, verify_login),
    Route("POST", f"{API_PREFIX}/auth/mfa/enroll", None, everyone(200), build_mfa_enroll, verify_mfa_enroll),
    Route(
        "POST", f"{API_PREFIX}/auth/mfa/confirm", None, everyone(401), build_mfa_confirm, verify_mfa_confirm
    ),
    Route("POST", f"{API_PREFIX}/auth/reauth", R, lab_side(200, 200, 200), build_reauth, verify_reauth),
    Route(
        "POST",
        f"{API_PREFIX}/auth/password",
        R,
        lab_side(204, 204, 204),
        build_password_change,
        verify_password_change,
    ),
    Route(
        "PATCH",
        f"{API_PREFIX}/users/{{user_id}}",
        ADMIN,
        lab_side(200, 404, 403),
        build_update_user,
        verify_update_user,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/users/{{user_id}}/mfa/reset",
        ADMIN,
        lab_side(204, 404, 403),
        build_mfa_reset,
        verify_mfa_reset,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/auth/password/initial",
        None,
        everyone(204),
        build_initial_password,
        verify_initial_password,
        single_use=True,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/account-actions",
        ADMIN,
        lab_side(200, 200, 403),
        build_list_account_actions,
        verify_list_account_actions,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/account-actions/{{action_id}}/cancel",
        ADMIN,
        lab_side(200, 404, 403),
        build_cancel_account_action,
        verify_cancel_account_action,
    ),
    Route("GET", "/healthz", None, everyone(200), build_healthz),
    Route(
        "GET",
        f"{API_PREFIX}/me",
        R,
        lab_side(200, 200, 200),
        lambda _w, _a: Req(f"{API_PREFIX}/me"),
        verify_me,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/tokens",
        R,
        lab_side(201, 201, 201),
        build_create_token,
        verify_new_token,
    ),
    Route(
        "DELETE",
        f"{API_PREFIX}/tokens/{{token_id}}",
        R,
        lab_side(204, 404, 204),
        build_revoke,
        verify_revoke,
        tells_lab=True,
    ),
    Route(
        "POST", P, R, lab_side(201, 201, 403), build_create_patient, verify_create_patient, echoes_input=True
    ),
    Route("GET", f"{P}/{{patient_id}}", R, lab_side(200, 404, 403), build_read_patient, verify_read_patient),
    Route(
        "PATCH", f"{P}/{{patient_id}}", R, lab_side(200, 404, 403), build_patch_patient, verify_patch_patient
    ),
    Route("POST", f"{P}/search/nir", R, lab_side(200, 200, 403), search_builder("nir"), verify_search),
    Route(
        "POST",
        f"{API_PREFIX}/physicians",
        R,
        lab_side(201, 201, 403),
        build_register_physician,
        verify_register_physician,
        echoes_input=True,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/physicians/search",
        R,
        lab_side(200, 404, 403),
        build_find_physician,
        verify_find_physician,
    ),
    Route("POST", f"{P}/search/ins", R, lab_side(200, 200, 403), search_builder("ins"), verify_search),
    Route("POST", f"{P}/search/name", R, lab_side(200, 200, 403), search_builder("name"), verify_search),
    Route("GET", f"{API_PREFIX}/labs", ADMIN, lab_side(200, 200, 200), build_list_labs, verify_list_labs),
    Route("POST", f"{API_PREFIX}/labs", ADMIN, lab_side(403, 403, 201), build_create_lab, verify_create_lab),
    Route(
        "GET",
        f"{API_PREFIX}/labs/{{lab_id}}",
        ADMIN,
        lab_side(200, 404, 200),
        build_read_lab,
        verify_read_lab,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/labs/{{lab_id}}/users",
        ADMIN,
        lab_side(201, 404, 403),
        build_create_user,
        verify_create_user,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/labs/{{lab_id}}/keys/rotate",
        ADMIN,
        lab_side(200, 404, 200),
        build_rotate,
        verify_rotate,
    ),
    Route("POST", ORDERS, R, lab_side(201, 404, 403), build_create_order, verify_create_order),
    Route("GET", f"{ORDERS}/{{order_id}}", R, lab_side(200, 404, 403), build_read_order, verify_read_order),
    Route(
        "GET",
        f"{P}/{{patient_id}}/orders",
        R,
        lab_side(200, 404, 403),
        build_patient_orders,
        verify_patient_orders,
    ),
    Route(
        "GET", f"{ORDERS}/{{order_id}}/labels.pdf", R, lab_side(200, 404, 403), build_labels, verify_labels
    ),
    *(
        Route(
            "POST",
            f"{API_PREFIX}/specimens/{action}",
            R,
            lab_side(200, 404, 403),
            specimen_builder(action),
            specimen_verifier(action),
        )
        for action in SPECIMEN_OUTCOME
    ),
    Route("GET", f"{API_PREFIX}/worklist", T, lab_side(200, 200, 403), build_worklist, verify_worklist),
    Route("POST", RESULTS, T, lab_side(201, 422, 403), build_enter, verify_enter),
    Route(
        "POST",
        f"{RESULTS}/validate/technical",
        T,
        lab_side(200, 422, 403),
        validation_builder(biological=False),
        verify_validation,
    ),
    Route(
        "POST",
        f"{RESULTS}/validate/biological",
        B,
        lab_side(200, 422, 403),
        validation_builder(biological=True),
        verify_validation,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/items/{{item_id}}/critical-call",
        B,
        lab_side(201, 404, 403),
        build_critical_call,
        verify_critical_call,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/items/{{item_id}}/versions",
        T,
        lab_side(200, 404, 403),
        build_versions,
        verify_versions,
    ),
    Route(
        "POST", f"{ORDERS}/{{order_id}}/reports", B, lab_side(201, 404, 403), build_release, verify_release
    ),
    Route(
        "GET",
        f"{ORDERS}/{{order_id}}/reports",
        R,
        lab_side(200, 404, 403),
        build_list_reports,
        verify_list_reports,
    ),
    Route(
        "GET",
        f"{ORDERS}/{{order_id}}/reports/{{version}}.pdf",
        R,
        lab_side(200, 404, 403),
        build_report_pdf,
        verify_report_pdf,
    ),
    Route("GET", f"{P}/{{patient_id}}/history", B, lab_side(200, 404, 403), build_history, verify_history),
    Route(
        "GET",
        f"{P}/{{patient_id}}/history.pdf",
        B,
        lab_side(200, 404, 403),
        build_history_pdf,
        verify_history_pdf,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/audit/checkpoints",
        ADMIN,
        lab_side(200, 200, 200),
        build_audit_checkpoints,
        verify_audit_checkpoints,
    ),
    *(
        Route(
            "GET",
            f"{API_PREFIX}/audit/proof/{kind}",
            ADMIN,
            lab_side(200, 404, 200),
            audit_proof_builder(kind),
            verify_audit_proof,
        )
        for kind in ("inclusion", "consistency")
    ),
    Route(
        "POST", f"{API_PREFIX}/break-glass", T, lab_side(201, 404, 403), build_break_glass, verify_break_glass
    ),
    Route(
        "POST",
        f"{API_PREFIX}/support-grants",
        ADMIN,
        lab_side(201, 201, 403),
        build_grant_support,
        verify_grant_support,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/support-grants",
        ADMIN,
        lab_side(200, 200, 403),
        lambda _w, _a: Req(f"{API_PREFIX}/support-grants"),
        verify_list_grants,
    ),
    Route(
        "DELETE",
        f"{API_PREFIX}/support-grants/{{grant_id}}",
        ADMIN,
        lab_side(200, 404, 403),
        build_revoke_grant,
        verify_revoke_grant,
    ),
    Route(
        "GET",
        f"{P}/{{patient_id}}/access-log",
        B,
        lab_side(200, 404, 403),
        build_access_log,
        verify_access_log,
    ),
    Route(
        "GET", f"{API_PREFIX}/alerts", ADMIN, lab_side(200, 200, 403), build_list_alerts, verify_list_alerts
    ),
    Route(
        "POST",
        f"{API_PREFIX}/alerts/{{alert_id}}/acknowledge",
        ADMIN,
        lab_side(200, 404, 403),
        build_ack_alert,
        verify_ack_alert,
    ),
)
ROUTES_BY_KEY = {route.key: route for route in ROUTES}


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


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


def test_matrix_covers_every_route(world: World) -> None:
    served = enumerate_routes(fastapi_app(create_app(world.platform)))
    api = {key for key in served if key[1].startswith(f"{API_PREFIX}/")}
    assert len(api) >= 15, f"enumeration looks wrong: {sorted(api)}"
    covered = set(ROUTES_BY_KEY)
    assert api == {key for key in covered if key[1].startswith(f"{API_PREFIX}/")}, (
        f"routes without a matrix row: {sorted(api - covered)}; rows without a route: {sorted(covered - api)}"
    )
    ui = {key for key in served if key[1].startswith("/ui/")}  # the pages: tests/web/test_ui_routes.py
    outside = {("GET", "/healthz"), ("GET", "/")}
    assert served - api - ui == outside, "only /healthz and / live outside /api/v1 and /ui"


# --- the matrix -----------------------------------------------------------------------------------


MATRIX_CASES = [
    pytest.param(route, caller, id=f"{route_id(route)}-{caller}") for route in ROUTES for caller in Caller
]


@pytest.mark.parametrize(("route", "caller"), MATRIX_CASES)
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    role = route.role or Role.RECEPTION
    attempt = Attempt(caller, world.account_of(caller, role))
    req = route.build(world, attempt)
    expected = route.expected(caller)
    for sent, headers in enumerate(world.headers(caller, role)):
        if sent and route.single_use:
            req = route.build(world, attempt)
        patients_before = patient_count(world.platform, world.lab_a.id)
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
                assert patient_count(world.platform, world.lab_a.id) == patients_before
                told = caller is Caller.OPERATOR and route.tells_lab and response.status_code < 400
                assert (audit_count(world.platform, world.lab_a.id) > audit_before) is told
        route.verify(world, attempt, req, response)


DR = PRESCRIBER
ROLE_MATRIX: dict[tuple[str, str], dict[Role, int]] = {
    ("GET", f"{API_PREFIX}/me"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("POST", f"{API_PREFIX}/auth/reauth"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("POST", f"{API_PREFIX}/tokens"): dict.fromkeys(ACCOUNT_ROLES, 201),
    ("POST", P): {R: 201, T: 403, B: 201, ADMIN: 201, DR: 403},
    ("GET", f"{P}/{{patient_id}}"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("PATCH", f"{P}/{{patient_id}}"): {R: 200, T: 403, B: 200, ADMIN: 200, DR: 403},
    ("POST", f"{P}/search/nir"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("POST", f"{P}/search/ins"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("POST", f"{P}/search/name"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("POST", f"{API_PREFIX}/physicians"): {R: 201, T: 403, B: 201, ADMIN: 201, DR: 403},
    ("POST", f"{API_PREFIX}/physicians/search"): {**dict.fromkeys(LAB_ROLES, 200), DR: 403},
    ("GET", f"{API_PREFIX}/labs"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("POST", f"{API_PREFIX}/labs"): dict.fromkeys(ACCOUNT_ROLES, 403),
    ("GET", f"{API_PREFIX}/labs/{{lab_id}}"): dict.fromkeys(ACCOUNT_ROLES, 200),
    ("POST", f"{API_PREFIX}/labs/{{lab_id}}/users"): {**dict.fromkeys(ACCOUNT_ROLES, 403), ADMIN: 201},
    ("POST", f"{API_PREFIX}/labs/{{lab_id}}/keys/rotate"): {**dict.fromkeys(ACCOUNT_ROLES, 403), ADMIN: 200},
    ("POST", ORDERS): {R: 201, T: 403, B: 201, ADMIN: 403, DR: 403},
    ("GET", f"{ORDERS}/{{order_id}}"): {R: 200, T: 200, B: 200, ADMIN: 403, DR: 200},
    ("GET", f"{P}/{{patient_id}}/orders"): {R: 200, T: 200, B: 200, ADMIN: 403, DR: 200},
    ("GET", f"{ORDERS}/{{order_id}}/labels.pdf"): {R: 200, T: 200, B: 200, ADMIN: 403, DR: 403},
    **{
        ("POST", f"{API_PREFIX}/specimens/{action}"): {R: 200, T: 200, B: 200, ADMIN: 403, DR: 403}
        for action in SPECIMEN_OUTCOME
    },
    ("GET", f"{API_PREFIX}/worklist"): {R: 403, T: 200, B: 200, ADMIN: 403, DR: 200},
    ("POST", RESULTS): {R: 403, T: 201, B: 201, ADMIN: 403, DR: 403},
    ("POST", f"{RESULTS}/validate/technical"): {R: 403, T: 200, B: 200, ADMIN: 403, DR: 403},
    ("POST", f"{RESULTS}/validate/biological"): {R: 403, T: 403, B: 200, ADMIN: 403, DR: 403},
    ("POST", f"{API_PREFIX}/items/{{item_id}}/critical-call"): {R: 403, T: 201, B: 201, ADMIN: 403, DR: 403},
    ("GET", f"{API_PREFIX}/items/{{item_id}}/versions"): {R: 403, T: 200, B: 200, ADMIN: 403, DR: 200},
    ("POST", f"{ORDERS}/{{order_id}}/reports"): {R: 403, T: 403, B: 201, ADMIN: 403, DR: 403},
    ("GET", f"{ORDERS}/{{order_id}}/reports"): {R: 200, T: 403, B: 200, ADMIN: 403, DR: 200},
    ("GET", f"{ORDERS}/{{order_id}}/reports/{{version}}.pdf"): {R: 200, T: 403, B: 200, ADMIN: 403, DR: 200},
    ("GET", f"{P}/{{patient_id}}/history"): {R: 403, T: 200, B: 200, ADMIN: 403, DR: 200},
    ("GET", f"{P}/{{patient_id}}/history.pdf"): {R: 403, T: 200, B: 200, ADMIN: 403, DR: 200},
    ("POST", f"{API_PREFIX}/break-glass"): {R: 201, T: 201, B: 409, ADMIN: 403, DR: 403},
    ("POST", f"{API_PREFIX}/support-grants"): {R: 403, T: 403, B: 403, ADMIN: 201, DR: 403},
    ("GET", f"{API_PREFIX}/support-grants"): {R: 403, T: 403, B: 403, ADMIN: 200, DR: 403},
    ("DELETE", f"{API_PREFIX}/support-grants/{{grant_id}}"): {R: 403, T: 403, B: 403, ADMIN: 200, DR: 403},
    ("GET", f"{P}/{{patient_id}}/access-log"): {R: 403, T: 403, B: 200, ADMIN: 200, DR: 403},
    ("GET", f"{API_PREFIX}/alerts"): {R: 403, T: 403, B: 403, ADMIN: 200, DR: 403},
    ("POST", f"{API_PREFIX}/alerts/{{alert_id}}/acknowledge"): {R: 403, T: 403, B: 403, ADMIN: 200, DR: 403},
    **{
        ("GET", f"{API_PREFIX}/audit/{path}"): {R: 403, T: 403, B: 403, ADMIN: 200, DR: 403}
        for path in ("checkpoints", "proof/inclusion", "proof/consistency")
    },
}


def test_role_matrix_has_every_account_role_on_every_row() -> None:
    assert all(set(statuses) == set(ACCOUNT_ROLES) for statuses in ROLE_MATRIX.values())


ROLE_CASES = [
    pytest.param(key, role, id=f"{key[0]} {key[1]}-{role}")
    for key, statuses in ROLE_MATRIX.items()
    for role in ACCOUNT_ROLES
]


@pytest.mark.parametrize(("key", "role"), ROLE_CASES)
def test_roles_within_the_owning_lab(world: World, key: tuple[str, str], role: Role) -> None:
    route = ROUTES_BY_KEY[key]
    account = world.owner(role)
    attempt = Attempt(Caller.OWNER, account)
    req = route.build(world, attempt)
    response = world.client.request(
        route.method, req.path, json=req.json, headers=bearer(world.tokens[account.id])
    )
    assert response.status_code == ROLE_MATRIX[key][role], response.text[:300]
    route.verify(world, attempt, req, response)


# --- the prescriber, held to their own orders -------------------------------------------------------

OWN_ONLY = "a prescriber sees only the orders they prescribed"


def prescriber_reads(world: World) -> dict[str, tuple[str, str]]:
    """The prescriber column's reads: (the path on Dr D's order or patient, the same on W, Dr E's
    order of the same patient, or on twin T, who has no order of D's)."""
    flow = world.flow
    own, foreign = flow.order, flow.waiting
    patient, twin = world.target.id, world.twin.id
    return {
        "order": (f"{ORDERS}/{own.id}", f"{ORDERS}/{foreign.id}"),
        "reports": (f"{ORDERS}/{own.id}/reports", f"{ORDERS}/{foreign.id}/reports"),
        "report pdf": (f"{ORDERS}/{own.id}/reports/1.pdf", f"{ORDERS}/{foreign.id}/reports/1.pdf"),
        "versions": (
            f"{API_PREFIX}/items/{flow.order_items['K']}/versions",
            f"{API_PREFIX}/items/{Bench.items(foreign)['K']}/versions",
        ),
        "patient": (f"{P}/{patient}", f"{P}/{twin}"),
        "patient orders": (f"{P}/{patient}/orders", f"{P}/{twin}/orders"),
        "history": (f"{P}/{patient}/history", f"{P}/{twin}/history"),
        "history pdf": (f"{P}/{patient}/history.pdf", f"{P}/{twin}/history.pdf"),
    }


PRESCRIBER_READS = ("order", "reports", "report pdf", "versions", "patient", "patient orders", "history")


@pytest.mark.parametrize("read", [*PRESCRIBER_READS, "history pdf"])
def test_the_prescriber_is_held_to_their_own_orders(world: World, read: str) -> None:
    """Right for D's own order (200), the policy's 403 for another physician's order of the same
    patient or a patient without D's orders, 404 for lab B's prescriber; no refusal shows one of
    lab A's patients, and lab A's chain records only D's own refusal (issue 10, finding 9)."""
    own_path, other_path = prescriber_reads(world)[read]
    mine = bearer(world.tokens[world.owner(PRESCRIBER).id])
    assert world.client.get(own_path, headers=mine).status_code == 200
    audit_before = audit_count(world.platform, world.lab_a.id)
    refused = world.client.get(other_path, headers=mine)
    assert refused.status_code == 403, refused.text[:300]
    assert OWN_ONLY in refused.json()["detail"]
    stranger = bearer(world.tokens[world.other(PRESCRIBER).id])
    for path in (own_path, other_path):
        response = world.client.get(path, headers=stranger)
        assert response.status_code == 404, response.text[:300]
        assert not any(value.lower() in response.text.lower() for value in world.secrets())
    events = AuditEvent.__table__
    with world.platform.db.owner_engine.connect() as conn:
        added = conn.execute(
            select(events).where(events.c.chain == str(world.lab_a.id), events.c.chain_seq > audit_before)
        ).all()
    for event in added:  # D's refusal (route and id, no patient; coalesced if repeated), its probing alert
        assert (event.actor_id, event.patient_id) == (world.owner(PRESCRIBER).id, None)
        assert event.action in ("access.refused", "alert.raise"), event.action


def test_the_prescribers_searches_find_only_their_patients(world: World) -> None:
    mine = bearer(world.tokens[world.owner(PRESCRIBER).id])
    for person, expected in ((world.target, [str(world.target.id)]), (world.twin, [])):
        body = {"name": person.data.birth_name, "birth_date": person.data.birth_date.isoformat()}
        response = world.client.post(f"{P}/search/name", json=body, headers=mine)
        assert response.status_code == 200 and patient_ids(response) == expected
        if person.data.nir:
            response = world.client.post(f"{P}/search/nir", json={"nir": person.data.nir}, headers=mine)
            assert patient_ids(response) == expected
    twin_name = world.twin.data.birth_name.lower()
    lab_b = bearer(world.tokens[world.other(PRESCRIBER).id])
    body = {"name": world.target.data.birth_name, "birth_date": world.target.data.birth_date.isoformat()}
    response = world.client.post(f"{P}/search/name", json=body, headers=lab_b)
    assert patient_ids(response) == [] and twin_name not in response.text.lower()


def test_an_admin_creates_a_prescriber_account_through_the_api(world: World) -> None:
    """``POST /labs/{A}/users`` with ``physician_id``: created for a physician of lab A (the
    account then reads that physician's orders), 404 for one of lab B, 409 for a second account."""
    admin = world.owner(Role.LAB_ADMIN)
    mark_reauthenticated(world.platform, world.tokens[admin.id])
    headers = bearer(world.tokens[admin.id])
    physician = physician_in(world.platform, context_for(world.owner(Role.RECEPTION)))
    elsewhere = physician_in(world.platform, context_for(world.other(Role.RECEPTION)))

    def create(physician_id: uuid.UUID | None, role: str = "prescriber") -> httpx.Response:
        body: dict[str, Any] = {
            "username": f"dr{uuid.uuid4().hex[:12]}",
            "password": TEST_PASSWORD,
            "role": role,
        }
        if physician_id is not None:
            body["physician_id"] = str(physician_id)
        return world.client.post(f"{API_PREFIX}/labs/{world.lab_a.id}/users", json=body, headers=headers)

    created = create(physician)
    assert created.status_code == 201, created.text[:300]
    assert (created.json()["role"], created.json()["physician_id"]) == ("prescriber", str(physician))
    assert create(physician).status_code == 409
    assert create(elsewhere).status_code == 404
    assert create(None).status_code == 422
    assert create(physician, role="technician").status_code == 422
    prescriber = world.platform.accounts.by_username(created.json()["username"])
    token = token_for(world.platform, prescriber)
    order = prescribed(world.flow.bench, world.target.id, physician, "K")
    assert world.client.get(f"{ORDERS}/{order.id}", headers=bearer(token)).status_code == 200
    assert world.client.get(f"{ORDERS}/{world.flow.order.id}", headers=bearer(token)).status_code == 403
