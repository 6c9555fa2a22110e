"""The matrix's rows for reports (release, list, PDF) and a patient's cumulative history."""

from __future__ import annotations

import httpx
import pytest

from labvault.web.app import API_PREFIX
from labvault.workflow.models import Report
from tests.db_inspect import row_count
from tests.web.isolation.support import (
    ORDERS,
    Attempt,
    B,
    Caller,
    P,
    R,
    Req,
    Route,
    World,
    check_isolation,
    confined,
    matrix_cases,
)
from tests.web.support import assert_pdf_download


def build_release(world: World, _attempt: Attempt) -> Req:
    bench = world.flow.bench
    order = bench.order(world.target.id, tests=["K"])
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


ROUTES: tuple[Route, ...] = (
    Route("POST", f"{ORDERS}/{{order_id}}/reports", B, confined(201), build_release, verify_release),
    Route(
        "GET",
        f"{ORDERS}/{{order_id}}/reports",
        R,
        confined(200),
        build_list_reports,
        verify_list_reports,
    ),
    Route(
        "GET",
        f"{ORDERS}/{{order_id}}/reports/{{version}}.pdf",
        R,
        confined(200),
        build_report_pdf,
        verify_report_pdf,
    ),
    Route("GET", f"{P}/{{patient_id}}/history", B, confined(200), build_history, verify_history),
    Route(
        "GET",
        f"{P}/{{patient_id}}/history.pdf",
        B,
        confined(200),
        build_history_pdf,
        verify_history_pdf,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
