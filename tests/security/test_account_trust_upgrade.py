"""Issue 10, finding 1, on a platform upgraded from before 0012: the probe's admin (a password the
operator chose, never changed, a factor enrolled with it, a session open) must not be taken over
after the upgrade either, and the migration must run on a populated database (SQLite included,
whose batch rebuild of ``users`` used to fail under its foreign keys)."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import select, update

from labvault import schema
from labvault.errors import Conflict, Unauthenticated
from labvault.identity.account_actions import lab_has_established_admin
from labvault.identity.accounts import context_for
from labvault.identity.models import User
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from labvault.store.migrate import alembic_config
from tests.auth_helpers import FakeClock, enroll, with_clock
from tests.factories import TEST_PASSWORD, Factory

OWN_AFTER_UPGRADE = "the admin's own, at last"


def _as_before_0012(platform: Platform, given: str, owned: str) -> None:
    """Back to 0011, where ``given``'s password reads as never changed since its creation (the
    operator's) and ``owned``'s as changed a day later, then up to head again, as an upgrade of that
    platform would run."""
    config = alembic_config(platform.db.url)
    platform.db.dispose()
    command.downgrade(config, "0011")
    with platform.db.owner_engine.begin() as conn:
        conn.execute(update(User).where(User.username == given).values(password_changed_at=User.created_at))
        created = conn.execute(select(User.created_at).where(User.username == owned)).scalar_one()
        later = created + dt.timedelta(days=1)
        conn.execute(update(User).where(User.username == owned).values(password_changed_at=later))
    platform.db.dispose()
    schema.upgrade(platform.db.url)  # as `labvault init` upgrades: the app role's grants too
    platform.db.dispose()


def test_an_upgraded_admin_keeps_their_factor_and_the_operator_stays_out(fresh_factory: Factory) -> None:
    platform = with_clock(fresh_factory.platform, FakeClock())  # codes without waiting for steps
    lab = fresh_factory.lab()  # its first admin, created by the console (the operator)
    admin = fresh_factory.user(lab, Role.LAB_ADMIN)
    app = enroll(platform.accounts, admin.username)
    session = platform.accounts.login(admin.username, TEST_PASSWORD, app.code())
    staff = fresh_factory.user(lab, Role.BIOLOGIST)  # owned: unaffected by the upgrade

    _as_before_0012(platform, admin.username, staff.username)

    # Marked given (the operator may know it); its session opened with it is over.
    with pytest.raises(Unauthenticated):
        platform.accounts.resolve_token(session.token)
    with pytest.raises(Unauthenticated):
        platform.accounts.login(admin.username, TEST_PASSWORD, app.code())
    assert platform.accounts.login(
        staff.username, TEST_PASSWORD, enroll(platform.accounts, staff.username).code()
    )
    # The factor makes the lab established: the operator's requests wait...
    with platform.db.transaction(lab.id) as tx:
        assert lab_has_established_admin(tx, lab.id)
    operator = fresh_factory.user(None, Role.PLATFORM_OPERATOR)
    op_ctx = context_for(operator, Purpose.ADMINISTRATION)
    # ...and no reset may leave the given password usable without a code, by anyone.
    with pytest.raises(Conflict, match="never replaced the password"):
        platform.accounts.reset_mfa(op_ctx, admin.id)
    # Without the code the operator cannot turn the given password into its own.
    with pytest.raises(Unauthenticated):
        platform.accounts.set_own_password(admin.username, TEST_PASSWORD, "the operator's choice")
    with pytest.raises(Unauthenticated):
        platform.accounts.set_own_password(admin.username, TEST_PASSWORD, "the operator's choice", "000000")
    # The owner, with their code, does; then signs in as before.
    platform.accounts.set_own_password(admin.username, TEST_PASSWORD, OWN_AFTER_UPGRADE, app.code())
    assert platform.accounts.login(admin.username, OWN_AFTER_UPGRADE, app.code())


def test_the_operator_cannot_disable_the_labs_last_established_admin(factory: Factory) -> None:
    """Disabling every admin who can see the lab's alerts would let a reset through unseen."""
    platform = factory.platform
    lab = factory.lab()
    first = factory.user(lab, Role.LAB_ADMIN)
    enroll(platform.accounts, first.username)
    second = factory.user(lab, Role.LAB_ADMIN)
    enroll(platform.accounts, second.username)
    op_ctx = context_for(factory.user(None, Role.PLATFORM_OPERATOR), Purpose.ADMINISTRATION)
    assert not platform.accounts.update_user(op_ctx, first.id, active=False).active  # the other one sees it
    with pytest.raises(Conflict, match="last active administrator"):
        platform.accounts.update_user(op_ctx, second.id, active=False)
    assert platform.accounts.by_username(second.username).active
