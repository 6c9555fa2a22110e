"""Issue 10, finding 1: a platform operator (or a lab admin) must not be able to take over a lab's
account. The probe's sequence, replayed through the API on both engines:

    the operator creates a lab and its first admin with a password it chose; later it resets the
    admin's second factor, enrols a new one with the password it still knows, signs in as the admin,
    creates a biologist account for itself and reads patients.

Each step must now fail, or wait for the lab, which sees it on its own chain and as an alert.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from labvault.errors import Unauthenticated
from labvault.identity.accounts import Account, context_for
from labvault.identity.credentials import AUTH_FAILED
from labvault.oversight.alert_service import AlertService
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from tests.auth_helpers import FakeClock, enroll, login_body, mark_reauthenticated, with_clock
from tests.db_inspect import audit_actions
from tests.factories import GIVEN_PASSWORD, TEST_PASSWORD, Factory
from tests.web.support import API, TestClient, app_client, bearer

OPERATOR_PASSWORD = "the operator chose this one"
ADMIN_OWN = "the admin's own secret 42"


def _session(client: TestClient, platform: Platform, body: dict[str, str]) -> dict[str, str]:
    """Log in through the API and mark the session as just re-authenticated."""
    response = client.post(f"{API}/auth/login", json=body)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    mark_reauthenticated(platform, token, platform.accounts.clock())
    return bearer(token)


def _lab_alerts(platform: Platform, admin: Account) -> list[tuple[str, str, dict[str, Any]]]:
    page = AlertService(platform.db).list(context_for(admin, Purpose.ADMINISTRATION), limit=200)
    return [(a.kind, a.severity, a.detail) for a in page.alerts]


@dataclasses.dataclass
class Scene:
    platform: Platform
    clock: FakeClock
    client: TestClient
    operator: dict[str, str]  # the operator's session headers
    operator_account: Account
    lab_id: uuid.UUID
    admin: Account


@pytest.fixture
def scene(platform: Platform, factory: Factory) -> Any:
    clock = FakeClock()
    clocked = with_clock(platform, clock)
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    operator_app = enroll(clocked.accounts, operator.username)
    with app_client(clocked, login_rate_limit=1000) as client:
        op = _session(client, clocked, login_body(operator, operator_app))
        lab = factory.lab()
        created = client.post(
            f"{API}/labs/{lab.id}/users",
            headers=op,
            json={
                "username": f"adm{uuid.uuid4().hex[:10]}",
                "password": OPERATOR_PASSWORD,
                "role": "lab_admin",
            },
        )
        assert created.status_code == 201, created.text
        admin = clocked.accounts.by_username(created.json()["username"])
        yield Scene(clocked, clock, client, op, operator, lab.id, admin)


def test_a_password_set_by_the_operator_opens_nothing(scene: Scene) -> None:
    """The operator's password for the admin neither signs in nor enrols a factor: it only lets
    its owner set their own, once."""
    client, name = scene.client, scene.admin.username
    body = {"username": name, "password": OPERATOR_PASSWORD}
    assert client.post(f"{API}/auth/mfa/enroll", json=body).status_code == 401
    assert client.post(f"{API}/auth/login", json=body | {"totp_code": "123456"}).status_code == 401
    assert client.post(f"{API}/auth/mfa/enroll", json=body).json()["detail"] == AUTH_FAILED
    same = {**body, "new_password": OPERATOR_PASSWORD}
    assert client.post(f"{API}/auth/password/initial", json=same).status_code == 422
    first = client.post(f"{API}/auth/password/initial", json={**body, "new_password": ADMIN_OWN})
    assert first.status_code == 204, first.text
    # Used once: neither the operator nor anyone can use it again, for anything.
    again = client.post(f"{API}/auth/password/initial", json={**body, "new_password": "yet another password"})
    assert again.status_code == 401
    assert client.post(f"{API}/auth/mfa/enroll", json=body).status_code == 401
    own = client.post(f"{API}/auth/mfa/enroll", json={"username": name, "password": ADMIN_OWN})
    assert own.status_code == 200
    assert "user.password_set" in audit_actions(scene.platform, scene.lab_id, scene.admin.id)


def _established_admin(scene: Scene) -> Any:
    """The admin sets their own password and enrols (the lab now has an established admin)."""
    scene.platform.accounts.set_own_password(scene.admin.username, OPERATOR_PASSWORD, ADMIN_OWN)
    return enroll(scene.platform.accounts, scene.admin.username, ADMIN_OWN)


def test_the_operators_factor_reset_waits_and_the_lab_can_cancel_it(scene: Scene) -> None:
    platform, client = scene.platform, scene.client
    admin_app = _established_admin(scene)
    reset = f"{API}/users/{scene.admin.id}/mfa/reset"

    pending = client.post(reset, headers=scene.operator)
    assert pending.status_code == 202, pending.text
    action = pending.json()
    assert action["status"] == "pending" and action["user_id"] == str(scene.admin.id)
    # Nothing is reset yet: the admin still signs in with their factor; asking again changes nothing.
    assert client.post(reset, headers=scene.operator).json()["id"] == action["id"]
    admin = _session(client, platform, login_body(scene.admin, admin_app, ADMIN_OWN))
    # The lab sees it on its own chain and as a high alert naming the account.
    assert "account_action.request" in audit_actions(platform, scene.lab_id, scene.admin.id)
    kinds = {(k, s) for k, s, _ in _lab_alerts(platform, scene.admin)}
    assert ("platform_account_action_requested", "high") in kinds
    listed = client.get(f"{API}/account-actions", headers=admin)
    assert [a["id"] for a in listed.json()] == [action["id"]]
    # The operator cannot list or cancel the lab's actions.
    assert client.get(f"{API}/account-actions", headers=scene.operator).status_code == 403
    cancelled = client.post(f"{API}/account-actions/{action['id']}/cancel", headers=admin)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"{API}/account-actions/{action['id']}/cancel", headers=admin).status_code == 409
    # Past the delay, the cancelled request applies nothing: a new call is a new request.
    scene.clock.advance(hours=73)
    ctx = context_for(scene.operator_account, Purpose.ADMINISTRATION)
    again = platform.accounts.reset_mfa(ctx, scene.admin.id)
    assert again is not None and str(again.id) != action["id"]
    assert platform.accounts.by_username(scene.admin.username).mfa_enabled


def test_an_uncancelled_reset_applies_after_the_delay_but_the_operator_still_cannot_enrol(
    scene: Scene,
) -> None:
    platform, client = scene.platform, scene.client
    _established_admin(scene)
    operator = context_for(scene.operator_account, Purpose.ADMINISTRATION)
    assert platform.accounts.reset_mfa(operator, scene.admin.id) is not None
    scene.clock.advance(hours=71)
    assert platform.accounts.reset_mfa(operator, scene.admin.id) is not None  # not yet
    scene.clock.advance(hours=2)
    assert platform.accounts.reset_mfa(operator, scene.admin.id) is None  # applied
    assert not platform.accounts.by_username(scene.admin.username).mfa_enabled
    high = [(k, d) for k, s, d in _lab_alerts(platform, scene.admin) if s == "high"]
    assert ("account_factor_reset", True) in {(k, d.get("by_platform")) for k, d in high}
    # The operator's old password is dead; the admin's own is unknown to it: no enrolment.
    for password in (OPERATOR_PASSWORD, GIVEN_PASSWORD, TEST_PASSWORD):
        body = {"username": scene.admin.username, "password": password}
        assert client.post(f"{API}/auth/mfa/enroll", json=body).status_code == 401
    # The owner enrols again with their own password.
    enroll(platform.accounts, scene.admin.username, ADMIN_OWN)


def test_a_lab_without_an_established_admin_is_reset_at_once(scene: Scene) -> None:
    """Bootstrap recovery: an admin who never set their own password has nothing to protect yet."""
    reset = scene.client.post(f"{API}/users/{scene.admin.id}/mfa/reset", headers=scene.operator)
    assert reset.status_code == 204
    assert "auth.mfa_reset" in audit_actions(scene.platform, scene.lab_id, scene.admin.id)


def test_platform_actions_on_lab_accounts_are_on_the_labs_chain_and_alerted(scene: Scene) -> None:
    """Disabling a lab account or revoking its token (incident response) stays possible for an
    operator, never unseen by the lab (finding 11)."""
    platform, client = scene.platform, scene.client
    _established_admin(scene)
    admin_ctx = context_for(scene.admin, Purpose.ADMINISTRATION)
    staff = platform.accounts.create_user(
        admin_ctx, f"s{uuid.uuid4().hex[:10]}", GIVEN_PASSWORD, Role.BIOLOGIST, scene.lab_id
    )
    platform.accounts.set_own_password(staff.username, GIVEN_PASSWORD, TEST_PASSWORD)
    token = platform.accounts.issue_token(staff, "script", dt.timedelta(hours=1))
    assert client.delete(f"{API}/tokens/{token.id}", headers=scene.operator).status_code == 204
    disabled = client.patch(f"{API}/users/{staff.id}", headers=scene.operator, json={"active": False})
    assert disabled.status_code == 200
    actions = audit_actions(platform, scene.lab_id)
    assert "token.revoke" in actions and "user.update" in actions
    platform_alerts = [
        d["action"]
        for k, s, d in _lab_alerts(platform, scene.admin)
        if k == "platform_account_action" and s == "high"
    ]
    assert sorted(platform_alerts) == ["token.revoke", "user.update"]


def test_every_account_event_of_a_lab_is_an_alert_its_admins_see(scene: Scene) -> None:
    """New and re-enabled accounts, role changes and factor resets: the admins see each."""
    platform = scene.platform
    _established_admin(scene)
    admin_ctx = context_for(scene.admin, Purpose.ADMINISTRATION)
    staff = platform.accounts.create_user(
        admin_ctx, f"s{uuid.uuid4().hex[:10]}", GIVEN_PASSWORD, Role.TECHNICIAN, scene.lab_id
    )
    platform.accounts.update_user(admin_ctx, staff.id, role=Role.BIOLOGIST)
    platform.accounts.update_user(admin_ctx, staff.id, active=False)
    platform.accounts.update_user(admin_ctx, staff.id, active=True)
    platform.accounts.reset_mfa(admin_ctx, staff.id)
    about_staff = [k for k, _s, d in _lab_alerts(platform, scene.admin) if d.get("user_id") == str(staff.id)]
    assert sorted(about_staff) == sorted(
        ["account_created", "account_role_changed", "account_reenabled", "account_factor_reset"]
    )
    first_admin = [
        k for k, s, d in _lab_alerts(platform, scene.admin) if d.get("user_id") == str(scene.admin.id)
    ]
    assert first_admin == ["account_created"]  # by the operator: on the lab's chain too


def test_a_lab_admin_cannot_enrol_in_place_of_their_staff(scene: Scene) -> None:
    """The same takeover by a lab admin over a staff member: the reads would be the staff's."""
    platform, client = scene.platform, scene.client
    _established_admin(scene)
    admin_ctx = context_for(scene.admin, Purpose.ADMINISTRATION)
    staff = platform.accounts.create_user(
        admin_ctx, f"s{uuid.uuid4().hex[:10]}", GIVEN_PASSWORD, Role.BIOLOGIST, scene.lab_id
    )
    body = {"username": staff.username, "password": GIVEN_PASSWORD}
    assert client.post(f"{API}/auth/mfa/enroll", json=body).status_code == 401
    platform.accounts.set_own_password(staff.username, GIVEN_PASSWORD, "the biologist's own one")
    enroll(platform.accounts, staff.username, "the biologist's own one")
    assert platform.accounts.reset_mfa(admin_ctx, staff.id) is None  # a lab admin's reset: at once
    assert client.post(f"{API}/auth/mfa/enroll", json=body).status_code == 401
    with pytest.raises(Unauthenticated):
        platform.accounts.mfa.begin_enrollment(staff.username, GIVEN_PASSWORD)
    platform.accounts.mfa.begin_enrollment(staff.username, "the biologist's own one")
