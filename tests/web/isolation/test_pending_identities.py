"""The matrix's rows for pending identities (reception lists, confirms, merges the patients an
order-sending interface named that no one matched) and for marking order senders (lab admin)."""

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
    R,
    Req,
    Route,
    World,
    check_isolation,
    confined,
    lab_side,
    matrix_cases,
)

_SENDERS: dict[uuid.UUID, str] = {}


def sender_of_lab_a(world: World) -> str:
    """Lab A's order-sending interface (made and marked once)."""
    username = _SENDERS.get(world.lab_a.id)
    if username is None:
        admin = context_for(world.owner(Role.LAB_ADMIN), Purpose.ADMINISTRATION, "127.0.0.1")
        username = f"matrix-dpi-{uuid.uuid4().hex[:6]}"
        world.platform.accounts.create_user(admin, username, GIVEN_PASSWORD, Role.INTERFACE, world.lab_a.id)
        assert world.platform.order_intake.mark_sender(admin, username)
        _SENDERS[world.lab_a.id] = username
    return username


def pending_of_lab_a(world: World) -> uuid.UUID:
    """A new pending identity of lab A, placed with an order by its interface."""
    name = "QZPENDING" + "".join(chr(65 + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])
    control = f"MP{uuid.uuid4().hex[:10]}"
    message = "\r".join(
        [
            f"MSH|^~\\&|DPI|HOP|LABVAULT|LAB|20261207||OML^O21^OML_O21|{control}|P|2.5.1",
            f"PID|1||||{name}^Camille^^^^^L||19700501|F",
            f"ORC|NW|{control}",
            f"OBR|1|{control}||2823-3^Potassium^LN",
        ]
    ).encode()
    ack = world.platform.hl7_inbox.receive(sender_of_lab_a(world), message, "matrix")
    assert b"MSA|AA|" in ack, ack
    reception = context_for(world.owner(Role.RECEPTION), Purpose.CARE, "127.0.0.1")
    [pending] = [
        p.record.id
        for p in world.platform.pending_identities.list(reception)
        if p.record.data.birth_name == name
    ]
    return pending


def build_list(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/patients/pending", context={"pending": str(pending_of_lab_a(world))})


def verify_list(_world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        shown = {p["patient"]["id"] for p in response.json()["results"]}
        assert (req.context["pending"] in shown) is (attempt.caller is Caller.OWNER)


def build_confirm(world: World, _attempt: Attempt) -> Req:
    pending = pending_of_lab_a(world)
    return Req(f"{API_PREFIX}/patients/pending/{pending}/confirm", context={"pending": pending})


def verify_confirm(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    reception = context_for(world.owner(Role.RECEPTION), Purpose.CARE, "127.0.0.1")
    still = req.context["pending"] in {p.record.id for p in world.platform.pending_identities.list(reception)}
    assert still is (attempt.caller is not Caller.OWNER)


def build_merge(world: World, _attempt: Attempt) -> Req:
    pending = pending_of_lab_a(world)
    into = world.bench("a").patient()  # a confirmed patient of lab A: P and its twin keep their orders
    return Req(f"{API_PREFIX}/patients/pending/{pending}/merge", {"into": str(into)}, {"pending": pending})


def verify_merge(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        assert response.json()["orders_moved"] == 1
    reception = context_for(world.owner(Role.RECEPTION), Purpose.CARE, "127.0.0.1")
    still = req.context["pending"] in {p.record.id for p in world.platform.pending_identities.list(reception)}
    assert still is (attempt.caller is not Caller.OWNER)


def build_mark(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/interface/order-senders/{sender_of_lab_a(world)}")


def verify_mark(_world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.caller is Caller.OWNER:
        assert response.json()["order_sender"] is True


def build_unmark(world: World, _attempt: Attempt) -> Req:
    admin = context_for(world.owner(Role.LAB_ADMIN), Purpose.ADMINISTRATION, "127.0.0.1")
    username = f"matrix-unmark-{uuid.uuid4().hex[:6]}"
    world.platform.accounts.create_user(admin, username, GIVEN_PASSWORD, Role.INTERFACE, world.lab_a.id)
    world.platform.order_intake.mark_sender(admin, username)
    return Req(f"{API_PREFIX}/interface/order-senders/{username}")


def verify_unmark(_world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.caller is Caller.OWNER:
        assert response.json() == {
            "account": response.json()["account"],
            "order_sender": False,
            "changed": True,
        }


P = f"{API_PREFIX}/patients/pending"
ROUTES: tuple[Route, ...] = (
    Route("GET", P, R, lab_side(200, 200, 403), build_list, verify_list),
    Route(
        "POST",
        f"{P}/{{patient_id}}/confirm",
        R,
        confined(200),
        build_confirm,
        verify_confirm,
        single_use=True,
    ),
    Route("POST", f"{P}/{{patient_id}}/merge", R, confined(200), build_merge, verify_merge, single_use=True),
    Route(
        "PUT",
        f"{API_PREFIX}/interface/order-senders/{{username}}",
        ADMIN,
        confined(200),
        build_mark,
        verify_mark,
    ),
    Route(
        "DELETE",
        f"{API_PREFIX}/interface/order-senders/{{username}}",
        ADMIN,
        confined(200),
        build_unmark,
        verify_unmark,
        single_use=True,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
