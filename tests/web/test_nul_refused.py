"""A NUL character anywhere in a request body is a 422 naming the field, on both databases (on
PostgreSQL it reached the database and answered 500 before: text cannot hold a NUL)."""

from __future__ import annotations

import random

import pytest

from labvault.identity.synthetic import generate_finess
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from tests.factories import Factory
from tests.web.support import app_client, bearer, token_for


@pytest.mark.parametrize(
    ("role", "path", "body", "field"),
    [
        (Role.PLATFORM_OPERATOR, "/labs", {"code": "NUL1", "name": "Labo\x00ratoire"}, "name"),
        (Role.RECEPTION, "/patients", {"birth_name": "Dur\x00and"}, "birth_name"),
        (Role.RECEPTION, "/physicians/search", {"rpps": "1\x002"}, "rpps"),
    ],
)
def test_nul_is_refused_before_the_database(
    platform: Platform, role: Role, path: str, body: dict[str, str], field: str
) -> None:
    factory = Factory(platform)
    lab = None if role is Role.PLATFORM_OPERATOR else factory.lab()
    token = token_for(platform, factory.user(lab, role), recent_auth=True)
    if path == "/labs":
        body = {**body, "finess": generate_finess(random.Random(7))}
    with app_client(platform) as client:
        response = client.post(f"{API_PREFIX}{path}", json=body, headers=bearer(token))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and "NUL" in e["msg"] for e in errors), errors
