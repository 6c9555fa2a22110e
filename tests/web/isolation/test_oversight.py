"""The matrix's rows for access beyond the usual: break-the-glass, support grants to the platform
operator, and a patient's access log."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from labvault.identity.accounts import context_for
from labvault.security.access import Role
from labvault.security.grant_models import AccessOverride, SupportGrant
from labvault.store.base import utcnow
from labvault.web.app import API_PREFIX
from tests.db_inspect import row_count, row_value
from tests.web.isolation.support import (
    ADMIN,
    Attempt,
    B,
    Caller,
    P,
    Req,
    Route,
    T,
    World,
    check_isolation,
    confined,
    lab_side,
    matrix_cases,
    recently_authenticated,
)

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


ROUTES: tuple[Route, ...] = (
    Route("POST", f"{API_PREFIX}/break-glass", T, confined(201), build_break_glass, verify_break_glass),
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
        confined(200),
        build_revoke_grant,
        verify_revoke_grant,
    ),
    Route(
        "GET",
        f"{P}/{{patient_id}}/access-log",
        B,
        confined(200),
        build_access_log,
        verify_access_log,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
