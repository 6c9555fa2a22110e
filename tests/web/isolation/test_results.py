"""The matrix's rows for results: the worklist, entry, technical and biological validation,
critical-value calls and a result's versions."""

from __future__ import annotations

import httpx
import pytest

from labvault.web.app import API_PREFIX
from labvault.workflow.models import CriticalCall, OrderItem, Result
from tests.db_inspect import row_count, row_value
from tests.factories import Bench
from tests.web.isolation.support import (
    PRESCRIBER,
    RESULTS,
    Attempt,
    B,
    Build,
    Caller,
    Req,
    Route,
    T,
    World,
    check_isolation,
    confined,
    lab_side,
    matrix_cases,
    role_of,
)


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
    item = Bench.items(world.flow.bench.order(world.target.id, tests=["K"]))["K"]
    return Req(RESULTS, {"entries": [{"item_id": str(item), "value": "4.4"}]}, context={"item": item})


def verify_enter(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    entered = response.status_code == 201
    assert row_count(world.platform, Result, order_item_id=req.context["item"]) == int(entered)
    if entered:
        assert [(r["value"], r["flag"], r["version"]) for r in response.json()] == [("4.4", "N", 1)]


def validation_builder(biological: bool) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        bench = world.flow.bench
        order = bench.order(world.target.id, tests=["K"])
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
    order = bench.order(world.target.id, tests=["K"])
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


ROUTES: tuple[Route, ...] = (
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
        confined(201),
        build_critical_call,
        verify_critical_call,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/items/{{item_id}}/versions",
        T,
        confined(200),
        build_versions,
        verify_versions,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
