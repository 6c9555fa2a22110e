"""The per-role matrix inside lab A (from labvault.security.permissions): each row of ``ROLE_MATRIX``
tried by lab A's account in every role, with the row's builder and verifier."""

from __future__ import annotations

import pytest

from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from tests.web.isolation.support import (
    ACCOUNT_ROLES,
    ADMIN,
    DR,
    LAB_ROLES,
    ORDERS,
    RESULTS,
    SPECIMEN_OUTCOME,
    Attempt,
    B,
    Caller,
    P,
    R,
    T,
    World,
    all_routes,
)
from tests.web.support import bearer

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
    # Breach response: the lab's security officer alone.
    ("POST", f"{API_PREFIX}/incidents"): {R: 403, T: 403, B: 403, ADMIN: 201, DR: 403},
    **{
        (method, f"{API_PREFIX}/incidents{path}"): {R: 403, T: 403, B: 403, ADMIN: 200, DR: 403}
        for method, path in (
            ("GET", ""),
            ("GET", "/{incident_id}"),
            ("PATCH", "/{incident_id}"),
            ("POST", "/{incident_id}/affected/audit"),
            ("GET", "/{incident_id}/affected"),
            ("POST", "/{incident_id}/notify"),
            ("POST", "/{incident_id}/close"),
            ("GET", "/{incident_id}/cnil.pdf"),
            ("GET", "/{incident_id}/letters.pdf"),
        )
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
    route = all_routes()[key]
    account = world.owner(role)
    attempt = Attempt(Caller.OWNER, account)
    req = route.build(world, attempt)
    response = world.client.request(
        route.method, req.path, json=req.json, headers=bearer(world.tokens[account.id])
    )
    assert response.status_code == ROLE_MATRIX[key][role], response.text[:300]
    route.verify(world, attempt, req, response)
