"""Support access over HTTP: a re-authenticated lab admin grants, the operator acts in that lab with
``X-Support-Lab`` (read-only), nowhere else and not after revocation; the lab admin lists and revokes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX, create_app
from tests.db_inspect import audit_actions
from tests.factories import Factory
from tests.web.support import TestClient, bearer, patient_json, token_for

REASON = "Ticket 981: le patient n'apparaît pas dans la liste de travail"


@dataclass
class Env:
    platform: Platform
    client: TestClient
    lab: LabInfo
    other: LabInfo
    admin: Account
    operator: Account
    patient: uuid.UUID

    def as_operator(self, method: str, path: str, lab: uuid.UUID | None, json: Any = None) -> httpx.Response:
        headers = bearer(token_for(self.platform, self.operator))
        if lab is not None:
            headers["X-Support-Lab"] = str(lab)
        response: httpx.Response = self.client.request(
            method, f"{API_PREFIX}{path}", headers=headers, json=json
        )
        return response

    def grant(self) -> httpx.Response:
        token = token_for(self.platform, self.admin, recent_auth=True)
        body = {"operator": self.operator.username, "hours": 2, "reason": REASON}
        response: httpx.Response = self.client.post(
            f"{API_PREFIX}/support-grants", json=body, headers=bearer(token)
        )
        return response


@pytest.fixture
def env(platform: Platform) -> Iterator[Env]:
    factory = Factory(platform)
    lab, other = factory.lab("Laboratoire assisté"), factory.lab("Laboratoire tiers")
    admin, operator = factory.user(lab, Role.LAB_ADMIN), factory.user(None, Role.PLATFORM_OPERATOR)
    reception = factory.user(lab, Role.RECEPTION)
    patient = platform.patients.register(context_for(reception), factory.patient_data()).id
    with TestClient(create_app(platform)) as client:
        yield Env(platform, client, lab, other, admin, operator, patient)


def test_the_operator_reads_a_lab_only_under_an_active_grant(env: Env) -> None:
    path = f"/patients/{env.patient}"
    assert env.as_operator("GET", path, None).status_code == 403
    refused = env.as_operator("GET", path, env.lab.id)
    assert refused.status_code == 403 and "no active support grant" in refused.json()["detail"]

    stale = env.client.post(
        f"{API_PREFIX}/support-grants",
        json={"operator": env.operator.username, "hours": 2, "reason": REASON},
        headers=bearer(token_for(env.platform, env.admin)),
    )
    assert stale.status_code == 403 and "re-authentication" in stale.json()["detail"]
    too_long = env.client.post(
        f"{API_PREFIX}/support-grants",
        json={"operator": env.operator.username, "hours": 9, "reason": REASON},
        headers=bearer(token_for(env.platform, env.admin, recent_auth=True)),
    )
    assert too_long.status_code == 422

    granted = env.grant()
    assert granted.status_code == 201, granted.text
    grant_id = granted.json()["id"]
    read = env.as_operator("GET", path, env.lab.id)
    assert read.status_code == 200 and read.json()["id"] == str(env.patient)
    assert env.as_operator("GET", path, None).status_code == 403, "only with the header"
    assert env.as_operator("GET", path, env.other.id).status_code == 403, "one lab"
    assert env.as_operator("GET", f"/patients/{env.patient}/access-log", env.lab.id).status_code == 403
    written = env.as_operator(
        "POST", "/patients", env.lab.id, json=patient_json(Factory(env.platform).patient_data())
    )
    assert written.status_code == 403, "read-only"
    actions = audit_actions(env.platform, env.lab.id, uuid.UUID(grant_id))
    assert actions.count("support.grant") == 1 and actions.count("support.use") == 3

    admin = bearer(token_for(env.platform, env.admin))
    listed = env.client.get(f"{API_PREFIX}/support-grants", headers=admin).json()
    assert [(g["id"], g["active"]) for g in listed] == [(grant_id, True)]
    revoked = env.client.delete(f"{API_PREFIX}/support-grants/{grant_id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert env.as_operator("GET", path, env.lab.id).status_code == 403
    assert "support.revoke" in audit_actions(env.platform, env.lab.id, uuid.UUID(grant_id))


def test_staff_cannot_use_the_support_header(env: Env) -> None:
    env.grant()
    staff = token_for(env.platform, env.admin)
    response = env.client.get(
        f"{API_PREFIX}/patients/{env.patient}",
        headers={**bearer(staff), "X-Support-Lab": str(env.lab.id)},
    )
    assert response.status_code == 403 and "only a platform operator" in response.json()["detail"]
    bad = env.client.get(
        f"{API_PREFIX}/patients/{env.patient}",
        headers={**bearer(token_for(env.platform, env.operator)), "X-Support-Lab": "not-a-lab"},
    )
    assert bad.status_code == 422
