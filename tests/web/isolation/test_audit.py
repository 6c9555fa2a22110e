"""The matrix's rows for what witnesses and monitors poll: signed audit checkpoints, inclusion and
consistency proofs, and ``/healthz``."""

from __future__ import annotations

import httpx
import pytest

from labvault.security.signed_checkpoint import NoteVerifier
from labvault.web.app import API_PREFIX
from tests.web.isolation.support import (
    ADMIN,
    AUDIT,
    Attempt,
    Build,
    Caller,
    Req,
    Route,
    World,
    check_isolation,
    everyone,
    lab_side,
    matrix_cases,
)


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


ROUTES: tuple[Route, ...] = (
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
    Route("GET", "/healthz", None, everyone(200), build_healthz),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
