"""The matrix's rows for a lab's security alerts: list and acknowledge."""

from __future__ import annotations

import uuid

import httpx
import pytest

from labvault.identity.accounts import context_for
from labvault.security.access import Role
from labvault.security.alert_models import Alert
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.web.app import API_PREFIX
from tests.db_inspect import row_value
from tests.web.isolation.support import (
    ADMIN,
    Attempt,
    Caller,
    Req,
    Route,
    World,
    check_isolation,
    confined,
    lab_side,
    matrix_cases,
)


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


ROUTES: tuple[Route, ...] = (
    Route(
        "GET", f"{API_PREFIX}/alerts", ADMIN, lab_side(200, 200, 403), build_list_alerts, verify_list_alerts
    ),
    Route(
        "POST",
        f"{API_PREFIX}/alerts/{{alert_id}}/acknowledge",
        ADMIN,
        confined(200),
        build_ack_alert,
        verify_ack_alert,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
