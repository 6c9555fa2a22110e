"""The matrix's rows for analyzer QC (docs/INTEROP.md, "Analyzer QC"): lab A's control lots,
QC values, Levey-Jennings series and rejections are lab A's staff's only; lab B gets 404 on lab A's
instruments and rejections and never sees them in its own lists; the operator gets 403. And the
per-role matrix of the QC routes inside lab A."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from labvault.identity.accounts import context_for
from labvault.security.access import Purpose, Role
from labvault.web.app import API_PREFIX
from tests.factories import GIVEN_PASSWORD
from tests.web.isolation.support import (
    ADMIN,
    DR,
    Attempt,
    B,
    Caller,
    R,
    Req,
    Route,
    T,
    World,
    check_isolation,
    confined,
    lab_side,
    matrix_cases,
)
from tests.web.support import bearer

QC = f"{API_PREFIX}/qc"
LOT = "MATRIX-LOT-1"  # mean 4.0, SD 0.1 for K


@dataclass(frozen=True)
class QcSetup:
    instrument: str  # lab A's analyzer (an interface account)


_SETUP: dict[uuid.UUID, QcSetup] = {}


def qc_of_lab_a(world: World) -> QcSetup:
    """Lab A's analyzer, its control lot for K and a first in-control point."""
    setup = _SETUP.get(world.lab_a.id)
    if setup is None:
        admin = context_for(world.owner(Role.LAB_ADMIN), Purpose.ADMINISTRATION, "127.0.0.1")
        instrument = f"matrix-qc-{uuid.uuid4().hex[:6]}"
        world.platform.accounts.create_user(admin, instrument, GIVEN_PASSWORD, Role.INTERFACE, world.lab_a.id)
        bench = world.flow.bench
        world.platform.qc.add_lot(bench.biologist, instrument, "K", LOT, "4.0", "0.1", level=1)
        world.platform.qc.record(bench.technician, instrument, "K", LOT, "4.05")
        setup = _SETUP[world.lab_a.id] = QcSetup(instrument)
    return setup


def a_rejection(world: World) -> uuid.UUID:
    """A new 1-3s rejection of lab A's lot, pending."""
    setup = qc_of_lab_a(world)
    point, _ = world.platform.qc.record(world.flow.bench.technician, setup.instrument, "K", LOT, "4.5")
    assert point.status == "rejected"
    return point.id


# --- rows ---------------------------------------------------------------------------------------------


def build_add_lot(world: World, _attempt: Attempt) -> Req:
    setup = qc_of_lab_a(world)
    lot = f"L-{uuid.uuid4().hex[:8]}"
    body = {
        "instrument": setup.instrument,
        "test_code": "K",
        "lot": lot,
        "mean": "4.0",
        "sd": "0.1",
        "level": 2,
    }
    return Req(f"{QC}/lots", json=body)


def verify_add_lot(_world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 201:
        assert response.json()["lot"] == req.json["lot"].upper()  # type: ignore[index]


def build_list_lots(world: World, _attempt: Attempt) -> Req:
    qc_of_lab_a(world)
    return Req(f"{QC}/lots")


def verify_list_lots(_world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        shown = {lot["lot"] for lot in response.json()}
        assert (LOT in shown) is (attempt.caller is Caller.OWNER)


def build_enter(world: World, _attempt: Attempt) -> Req:
    setup = qc_of_lab_a(world)
    return Req(
        f"{QC}/results", json={"instrument": setup.instrument, "test_code": "K", "lot": LOT, "value": "4.01"}
    )


def verify_enter(_world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 201:
        point = response.json()["point"]
        assert (point["source"], point["z"]) == ("manual", pytest.approx(0.1))


def build_series(world: World, _attempt: Attempt) -> Req:
    setup = qc_of_lab_a(world)
    return Req(f"{QC}/series?instrument={setup.instrument}&test=K&lot={LOT.lower()}")


def verify_series(_world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        body = response.json()
        assert (body["mean"], body["sd"], body["lot"]["lot"]) == ("4.0", "0.1", LOT)
        assert body["points"][0]["value"] == "4.05" and body["points"][0]["z"] == pytest.approx(0.5)
        numbers = [p["number"] for p in body["points"]]
        assert numbers == sorted(numbers) and numbers[0] == 1


def build_events(world: World, _attempt: Attempt) -> Req:
    return Req(f"{QC}/events", context={"rejection": str(a_rejection(world))})


def verify_events(_world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        shown = {event["point"]["id"] for event in response.json()}
        assert (req.context["rejection"] in shown) is (attempt.caller is Caller.OWNER)


def build_decide(world: World, _attempt: Attempt) -> Req:
    rejection = a_rejection(world)
    body = {"decision": "accept", "comment": "control vial reconstituted again, in range"}
    return Req(f"{QC}/events/{rejection}/decision", json=body, context={"rejection": str(rejection)})


def verify_decide(_world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        body = response.json()
        assert (body["point"]["id"], body["point"]["decision"]) == (req.context["rejection"], "accept")


ROUTES: tuple[Route, ...] = (
    Route("POST", f"{QC}/lots", B, confined(201), build_add_lot, verify_add_lot, single_use=True),
    Route("GET", f"{QC}/lots", T, lab_side(200, 200, 403), build_list_lots, verify_list_lots),
    Route("POST", f"{QC}/results", T, confined(201), build_enter, verify_enter),
    Route("GET", f"{QC}/series", T, confined(200), build_series, verify_series),
    Route("GET", f"{QC}/events", T, lab_side(200, 200, 403), build_events, verify_events),
    Route(
        "POST",
        f"{QC}/events/{{qc_result_id}}/decision",
        B,
        confined(200),
        build_decide,
        verify_decide,
        single_use=True,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)


# --- roles inside lab A ---------------------------------------------------------------------------

QC_ROLES: dict[str, dict[Role, int]] = {
    "POST /lots": {R: 403, T: 403, B: 201, ADMIN: 201, DR: 403},
    "GET /lots": {R: 403, T: 200, B: 200, ADMIN: 200, DR: 403},
    "POST /results": {R: 403, T: 201, B: 201, ADMIN: 403, DR: 403},
    "GET /series": {R: 403, T: 200, B: 200, ADMIN: 200, DR: 403},
    "GET /events": {R: 403, T: 200, B: 200, ADMIN: 200, DR: 403},
    "POST /events/{qc_result_id}/decision": {R: 403, T: 403, B: 200, ADMIN: 403, DR: 403},
}


@pytest.mark.parametrize(
    ("route", "role"),
    [
        pytest.param(route, role, id=f"{route.method} {route.path}-{role}")
        for route in ROUTES
        for role in (R, T, B, ADMIN, DR)
    ],
)
def test_roles_within_the_owning_lab(world: World, route: Route, role: Role) -> None:
    account = world.owner(role)
    attempt = Attempt(Caller.OWNER, account)
    req = route.build(world, attempt)
    response = world.client.request(
        route.method, req.path, json=req.json, headers=bearer(world.tokens[account.id])
    )
    expected = QC_ROLES[f"{route.method} {route.path.removeprefix(QC)}"][role]
    assert response.status_code == expected, response.text[:300]
    route.verify(world, attempt, req, response)
