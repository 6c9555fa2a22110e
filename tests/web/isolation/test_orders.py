"""The matrix's rows for orders, their labels and their tubes (collect, receive, reject, look up)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from labvault.workflow.models import Order, Specimen
from tests.db_inspect import row_count, row_value
from tests.web.isolation.support import (
    ORDERS,
    PRESCRIBER,
    SPECIMEN_OUTCOME,
    Attempt,
    Build,
    Caller,
    P,
    R,
    Req,
    Route,
    Verify,
    World,
    assert_restricted_policy,
    check_isolation,
    confined,
    matrix_cases,
    role_of,
)
from tests.web.support import assert_pdf_download


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


def specimen_builder(action: str) -> Build:
    def build(world: World, _attempt: Attempt) -> Req:
        order = world.flow.bench.order(world.target.id, tests=["K"], receive=False)
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


ROUTES: tuple[Route, ...] = (
    Route("POST", ORDERS, R, confined(201), build_create_order, verify_create_order),
    Route("GET", f"{ORDERS}/{{order_id}}", R, confined(200), build_read_order, verify_read_order),
    Route(
        "GET",
        f"{P}/{{patient_id}}/orders",
        R,
        confined(200),
        build_patient_orders,
        verify_patient_orders,
    ),
    Route("GET", f"{ORDERS}/{{order_id}}/labels.pdf", R, confined(200), build_labels, verify_labels),
    *(
        Route(
            "POST",
            f"{API_PREFIX}/specimens/{action}",
            R,
            confined(200),
            specimen_builder(action),
            specimen_verifier(action),
        )
        for action in SPECIMEN_OUTCOME
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
