"""The matrix's rows for signing in and accounts: login, MFA enrolment, re-authentication,
password changes, user administration, pending account actions, ``/me`` and API tokens."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from labvault.identity.account_action_models import PendingAccountAction
from labvault.identity.accounts import Account, context_for
from labvault.security.access import Purpose, Role
from labvault.web.app import API_PREFIX
from tests.auth_helpers import Authenticator, forget_code_use
from tests.db_inspect import row_value
from tests.factories import GIVEN_PASSWORD, TEST_PASSWORD, own
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
    everyone,
    fresh_code,
    lab_side,
    matrix_cases,
    recently_authenticated,
)
from tests.web.support import bearer, token_for


def build_login(world: World, _attempt: Attempt) -> Req:
    owner = world.owner(Role.RECEPTION)
    return Req(
        f"{API_PREFIX}/auth/login",
        {"username": owner.username, "password": TEST_PASSWORD, "totp_code": fresh_code(world, owner)},
    )


def verify_login(world: World, _attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    token = response.json()["access_token"]
    me = world.client.get(f"{API_PREFIX}/me", headers=bearer(token))
    assert me.json()["id"] == str(world.owner(Role.RECEPTION).id)
    forget_code_use(world.platform, world.owner(Role.RECEPTION).username)


def lab_a_user(world: World) -> Account:
    """A new technician of lab A, created by its admin."""
    creator = context_for(world.owner(Role.LAB_ADMIN))
    username = f"t{uuid.uuid4().hex[:12]}"
    account = world.platform.accounts.create_user(
        creator, username, GIVEN_PASSWORD, Role.TECHNICIAN, world.lab_a.id
    )
    return own(world.platform, account)


def build_mfa_enroll(world: World, _attempt: Attempt) -> Req:
    user = lab_a_user(world)
    return Req(f"{API_PREFIX}/auth/mfa/enroll", {"username": user.username, "password": TEST_PASSWORD})


def verify_mfa_enroll(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    assert req.json is not None
    assert response.json()["otpauth_uri"].startswith(f"otpauth://totp/labvault:{req.json['username']}")
    assert world.platform.accounts.by_username(req.json["username"]).mfa_enabled is False


def build_mfa_confirm(world: World, _attempt: Attempt) -> Req:
    user = lab_a_user(world)
    secret = world.platform.accounts.mfa.begin_enrollment(user.username, TEST_PASSWORD).secret
    wrong = f"{(int(Authenticator(secret).code()) + 1) % 1_000_000:06d}"
    body = {"username": user.username, "password": TEST_PASSWORD, "totp_code": wrong}
    return Req(f"{API_PREFIX}/auth/mfa/confirm", body)


def verify_mfa_confirm(world: World, _attempt: Attempt, req: Req, _response: httpx.Response) -> None:
    assert req.json is not None
    assert world.platform.accounts.by_username(req.json["username"]).mfa_enabled is False


def build_reauth(world: World, attempt: Attempt) -> Req:
    code = fresh_code(world, attempt.account) if attempt.account is not None else "123456"
    return Req(f"{API_PREFIX}/auth/reauth", {"password": TEST_PASSWORD, "totp_code": code})


def verify_reauth(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        caller = world.platform.accounts.resolve_token(world.tokens[attempt.account.id])
        assert caller.reauthenticated_at is not None
        assert response.json()["reauthenticated_at"].startswith(caller.reauthenticated_at.date().isoformat())


def build_password_change(world: World, attempt: Attempt) -> Req:
    code = fresh_code(world, attempt.account) if attempt.account is not None else "123456"
    body = {"current_password": TEST_PASSWORD, "totp_code": code, "new_password": TEST_PASSWORD}
    return Req(f"{API_PREFIX}/auth/password", body)


def verify_password_change(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is None:
        return
    # Every token of the caller is revoked; the world's next rows get a new one.
    assert not world.token_works(world.tokens[attempt.account.id])
    world.tokens[attempt.account.id] = token_for(world.platform, attempt.account)


def build_update_user(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    target = lab_a_user(world)
    return Req(
        f"{API_PREFIX}/users/{target.id}", {"role": "biologist"}, context={"username": target.username}
    )


def verify_update_user(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    role = world.platform.accounts.by_username(req.context["username"]).role
    assert role is (Role.BIOLOGIST if response.status_code == 200 else Role.TECHNICIAN)


def build_mfa_reset(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    target = lab_a_user(world)
    fresh_code(world, target)  # enrolled
    return Req(f"{API_PREFIX}/users/{target.id}/mfa/reset", context={"username": target.username})


def verify_mfa_reset(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    enabled = world.platform.accounts.by_username(req.context["username"]).mfa_enabled
    assert enabled is (response.status_code != 204)


def build_initial_password(world: World, _attempt: Attempt) -> Req:
    """A new account of lab A whose owner replaces the password they were given (public route)."""
    creator = context_for(world.owner(Role.LAB_ADMIN))
    username = f"n{uuid.uuid4().hex[:12]}"
    world.platform.accounts.create_user(creator, username, GIVEN_PASSWORD, Role.TECHNICIAN, world.lab_a.id)
    body = {"username": username, "password": GIVEN_PASSWORD, "new_password": TEST_PASSWORD}
    return Req(f"{API_PREFIX}/auth/password/initial", body, context={"username": username})


def verify_initial_password(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 204:  # the owner's password now: it starts an enrolment
        world.platform.accounts.mfa.begin_enrollment(req.context["username"], TEST_PASSWORD)


def pending_admin_reset(world: World) -> uuid.UUID:
    """The operator's pending request to reset lab A's admin's factor (lab A's admin enrolled)."""
    admin = world.owner(Role.LAB_ADMIN)
    fresh_code(world, admin)
    action = world.platform.accounts.reset_mfa(context_for(world.operator, Purpose.ADMINISTRATION), admin.id)
    assert action is not None, "lab A has an established admin: the operator's reset waits"
    return action.id


def build_list_account_actions(world: World, _attempt: Attempt) -> Req:
    return Req(f"{API_PREFIX}/account-actions", context={"action": str(pending_admin_reset(world))})


def verify_list_account_actions(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    if response.status_code == 200:
        listed = [action["id"] for action in response.json()]
        assert (req.context["action"] in listed) is (attempt.caller is Caller.OWNER)


def build_cancel_account_action(world: World, attempt: Attempt) -> Req:
    action_id = pending_admin_reset(world)
    return Req(f"{API_PREFIX}/account-actions/{action_id}/cancel", context={"action": str(action_id)})


def verify_cancel_account_action(world: World, _attempt: Attempt, req: Req, response: httpx.Response) -> None:
    status = row_value(world.platform, PendingAccountAction, uuid.UUID(req.context["action"]), "status")
    assert (status == "cancelled") is (response.status_code == 200)


def build_create_token(world: World, attempt: Attempt) -> Req:
    recently_authenticated(world, attempt)
    return Req(f"{API_PREFIX}/tokens", {"label": "matrix", "ttl_hours": 1})


def verify_me(_world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        assert response.json()["id"] == str(attempt.account.id)
        assert response.json()["lab_id"] == (str(attempt.account.lab_id) if attempt.account.lab_id else None)


def verify_new_token(world: World, attempt: Attempt, _req: Req, response: httpx.Response) -> None:
    if attempt.account is not None:
        token = response.json()["access_token"]
        me = world.client.get(f"{API_PREFIX}/me", headers=bearer(token))
        assert me.json()["id"] == str(attempt.account.id)


def build_revoke(world: World, _attempt: Attempt) -> Req:
    issued = world.platform.accounts.issue_token(
        world.owner(Role.RECEPTION), "revoke me", dt.timedelta(hours=1)
    )
    return Req(f"{API_PREFIX}/tokens/{issued.id}", context={"token": issued.token})


def verify_revoke(world: World, attempt: Attempt, req: Req, response: httpx.Response) -> None:
    revoked = response.status_code == 204
    assert world.token_works(req.context["token"]) is not revoked
    if attempt.caller in (Caller.OWNER, Caller.OPERATOR):
        assert revoked


ROUTES: tuple[Route, ...] = (
    Route("POST", f"{API_PREFIX}/auth/login", None, everyone(200), build_login, verify_login),
    Route("POST", f"{API_PREFIX}/auth/mfa/enroll", None, everyone(200), build_mfa_enroll, verify_mfa_enroll),
    Route(
        "POST", f"{API_PREFIX}/auth/mfa/confirm", None, everyone(401), build_mfa_confirm, verify_mfa_confirm
    ),
    Route("POST", f"{API_PREFIX}/auth/reauth", R, lab_side(200, 200, 200), build_reauth, verify_reauth),
    Route(
        "POST",
        f"{API_PREFIX}/auth/password",
        R,
        lab_side(204, 204, 204),
        build_password_change,
        verify_password_change,
    ),
    Route(
        "PATCH",
        f"{API_PREFIX}/users/{{user_id}}",
        ADMIN,
        confined(200),
        build_update_user,
        verify_update_user,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/users/{{user_id}}/mfa/reset",
        ADMIN,
        confined(204),
        build_mfa_reset,
        verify_mfa_reset,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/auth/password/initial",
        None,
        everyone(204),
        build_initial_password,
        verify_initial_password,
        single_use=True,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/account-actions",
        ADMIN,
        lab_side(200, 200, 403),
        build_list_account_actions,
        verify_list_account_actions,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/account-actions/{{action_id}}/cancel",
        ADMIN,
        confined(200),
        build_cancel_account_action,
        verify_cancel_account_action,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/me",
        R,
        lab_side(200, 200, 200),
        lambda _w, _a: Req(f"{API_PREFIX}/me"),
        verify_me,
    ),
    Route(
        "POST",
        f"{API_PREFIX}/tokens",
        R,
        lab_side(201, 201, 201),
        build_create_token,
        verify_new_token,
    ),
    Route(
        "DELETE",
        f"{API_PREFIX}/tokens/{{token_id}}",
        R,
        lab_side(204, 404, 204),
        build_revoke,
        verify_revoke,
        tells_lab=True,
    ),
)


@pytest.mark.parametrize(("route", "caller"), matrix_cases(ROUTES))
def test_isolation_matrix(world: World, route: Route, caller: Caller) -> None:
    check_isolation(world, route, caller)
