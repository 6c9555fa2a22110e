"""An emergency access does not outlive the rights it was opened with: a role change or a
deactivation ends the person's open break-the-glass overrides at once (audited with the count);
a change that leaves the role alone ends nothing, and other people's overrides stay open."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from labvault.errors import Forbidden
from labvault.identity.accounts import Account, context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.base import utcnow
from tests.db_inspect import audit_events
from tests.factories import Bench

REASON = "Patient inconscient aux urgences, biologiste de garde injoignable"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire changement de rôle")


def breaker(bench: Bench, role: Role = Role.TECHNICIAN) -> Account:
    user = bench.factory.user(bench.lab, role)
    return dataclasses.replace(user, reauthenticated_at=utcnow())


def sees_restricted(bench: Bench, account: Account, order_id: uuid.UUID) -> bool:
    return bench.platform.orders.get(context_for(account), order_id).hidden_items == 0


def admin_ctx(bench: Bench) -> AccessContext:
    admin = bench.factory.user(bench.lab, Role.LAB_ADMIN)
    return context_for(admin, Purpose.ADMINISTRATION)


def updates_of(bench: Bench, person: Account) -> list[Any]:
    """The ``user.update`` events of ``person`` (their admin's changes, on the lab's chain)."""
    events = audit_events(bench.platform, bench.lab.id, "user.update")
    return [e for e in events if e.object_id == str(person.id)]


@pytest.mark.parametrize(("role", "active"), [(Role.RECEPTION, None), (None, False)])
def test_a_change_of_rights_ends_open_overrides(bench: Bench, role: Role | None, active: bool | None) -> None:
    order = bench.order(tests=["HIV"])
    person, colleague = breaker(bench), breaker(bench)
    for who in (person, colleague):
        bench.platform.break_glass.open(who, context_for(who), order.patient_id, REASON)
    assert sees_restricted(bench, person, order.id) and sees_restricted(bench, colleague, order.id)

    bench.platform.accounts.update_user(admin_ctx(bench), person.id, role=role, active=active)

    (event,) = updates_of(bench, person)
    assert event.detail["overrides_ended"] == 1
    assert sees_restricted(bench, colleague, order.id), "someone else's override must stay open"
    if active is False:
        return  # a disabled account reads nothing at all any more
    moved = dataclasses.replace(person, role=Role.RECEPTION)
    assert not sees_restricted(bench, moved, order.id)


def test_an_account_change_without_new_rights_ends_nothing(bench: Bench) -> None:
    order = bench.order(tests=["HIV"])
    person = breaker(bench)
    bench.platform.break_glass.open(person, context_for(person), order.patient_id, REASON)
    bench.platform.accounts.update_user(admin_ctx(bench), person.id, role=Role.TECHNICIAN)
    assert sees_restricted(bench, person, order.id)


def test_overrides_already_expired_are_not_counted(bench: Bench) -> None:
    person = breaker(bench)
    service = bench.platform.break_glass
    service.clock = lambda: utcnow() - dt.timedelta(hours=5)
    try:
        stale = dataclasses.replace(person, reauthenticated_at=utcnow() - dt.timedelta(hours=5))
        service.open(stale, context_for(person), bench.order(tests=["HIV"]).patient_id, REASON, 60)
    finally:
        service.clock = utcnow
    bench.platform.accounts.update_user(admin_ctx(bench), person.id, role=Role.RECEPTION)
    (event,) = updates_of(bench, person)
    assert "overrides_ended" not in event.detail


@pytest.mark.parametrize(("role", "active"), [(Role.RECEPTION, None), (None, False)])
def test_a_request_under_way_during_the_change_opens_nothing(
    bench: Bench, role: Role | None, active: bool | None
) -> None:
    """The request resolved its token (as a technician) before the admin's change committed: the
    override is refused, since the account is read again, locked, in the override's transaction
    (found by review: it used to open, and a reception account then read the HIV test)."""
    order = bench.order(tests=["HIV"])
    person = breaker(bench)
    ctx = context_for(person)  # built from the token before the change
    bench.platform.accounts.update_user(admin_ctx(bench), person.id, role=role, active=active)
    with pytest.raises(Forbidden, match="changed since this request began"):
        bench.platform.break_glass.open(person, ctx, order.patient_id, REASON)
    assert not sees_restricted(bench, dataclasses.replace(person, role=Role.RECEPTION), order.id)
