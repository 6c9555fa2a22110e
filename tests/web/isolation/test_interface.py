"""The matrix's row for what a lab's interfaces sent (dead letters included): its lab admin only."""

from __future__ import annotations

import uuid

import httpx
import pytest

from labvault.identity.accounts import context_for
from labvault.security.access import Purpose, Role
from labvault.web.app import API_PREFIX
from tests.factories import GIVEN_PASSWORD
from tests.web.isolation.support import (
    ADMIN,
    Attempt,
    Caller,
    Req,
    Route,
    World,
    check_isolation,
    lab_side,
    matrix_cases,
)

_ACCOUNTS: dict[uuid.UUID, str] = {}


def dead_letter_of_lab_a(world: World) -> str:
    """A message lab A's interface sent that was refused; its control id."""
    username = _ACCOUNTS.get(world.lab_a.id)
    if username is None:
        admin = context_for(world.owner(Role.LAB_ADMIN), Purpose.ADMINISTRATION, "127.0.0.1")
        username = f"matrix-analyzer-{uuid.uuid4().hex[:6]}"
        world.platform.accounts.create_user(admin, username, GIVEN_PASSWORD, Role.INTERFACE, world.lab_a.id)
        _ACCOUNTS[world.lab_a.id] = username
    control = f"MX{uuid.uuid4().hex[:10]}"
    message = f"MSH|^~\\&|A|B|C|D|20261207||ORU^R01|{control}|P|2.9\r".encode()  # unsupported version
    assert b"MSA|AR|" in world.platform.hl7_inbox.receive(username, message, "matrix")
    return control


def build_list_messages(world: World, _attempt: Attempt) -> Req:
    return Req(
        f"{API_PREFIX}/interface/messages?state=refused", context={"control": dead_letter_of_lab_a(world)}
    )


def verify_list_messages(_world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        shown = {m["control_id"]: m for m in response.json()["messages"]}
        assert (req.context["control"] in shown) is (attempt.caller is Caller.OWNER)
        if req.context["control"] in shown:
            letter = shown[req.context["control"]]
            assert (letter["state"], letter["ack_code"], letter["error_location"]) == (
                "refused",
                "AR",
                "MSH[1]-12",
            )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        f"{API_PREFIX}/interface/messages",
        ADMIN,
        lab_side(200, 200, 403),
        build_list_messages,
        verify_list_messages,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
