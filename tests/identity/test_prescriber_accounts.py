"""Prescriber accounts: a lab admin gives one physician of the lab an account of role prescriber;
the account names its physician (users.physician_id) and so does every context it acts in.

Refused: a physician of another lab or none at all (404, the same answer), a second active account
for the same physician (409, also at the database: a partial unique index), a creator who is not
the lab's admin, a prescriber without a physician or a staff account with one, and turning a staff
account into a prescriber's or back."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy.exc
from sqlalchemy import insert
from typer.testing import CliRunner

from labvault.cli import app
from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.models import User
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_rpps
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.base import utcnow
from tests.auth_helpers import pool_for
from tests.db_inspect import audit_events
from tests.factories import GIVEN_PASSWORD, TEST_PASSWORD, Factory, cli_ctx, own


@dataclass
class Lab:
    factory: Factory
    info: LabInfo
    admin: Account

    @property
    def platform(self) -> Platform:
        return self.factory.platform

    @property
    def admin_ctx(self) -> AccessContext:
        return context_for(self.admin, Purpose.ADMINISTRATION, "127.0.0.1")

    def physician(self) -> uuid.UUID:
        rng = random.Random(uuid.uuid4().int)
        data = PhysicianData(rpps=generate_rpps(rng), family_name="Lenoir", given_names="Hortense")
        return self.platform.physicians.register(self.factory.ctx(self.info), data).id

    def prescriber(self, physician_id: uuid.UUID, creator: AccessContext | None = None) -> Account:
        account = self.platform.accounts.create_user(
            creator or self.admin_ctx,
            f"dr{uuid.uuid4().hex[:12]}",
            GIVEN_PASSWORD,
            Role.PRESCRIBER,
            self.info.id,
            "Hortense Lenoir",
            physician_id=physician_id,
        )
        return own(self.platform, account)


def new_lab(platform: Platform, name: str) -> Lab:
    factory = Factory(platform)
    info = factory.lab(name)
    return Lab(factory, info, factory.user(info, Role.LAB_ADMIN))


@pytest.fixture(scope="module")
def labs(platform: Platform) -> Iterator[tuple[Lab, Lab]]:
    yield new_lab(platform, "Laboratoire des prescripteurs"), new_lab(platform, "Laboratoire voisin")


def audit_detail(platform: Platform, lab_id: uuid.UUID, object_id: uuid.UUID) -> list[tuple[str, object]]:
    events = audit_events(platform, lab_id, object_id=str(object_id))
    return [(row.action, row.detail) for row in events]


def test_a_lab_admin_creates_a_prescriber_account_for_a_physician_of_the_lab(labs: tuple[Lab, Lab]) -> None:
    lab, _ = labs
    physician = lab.physician()
    account = lab.prescriber(physician)
    assert (account.role, account.lab_id, account.physician_id) == (Role.PRESCRIBER, lab.info.id, physician)
    assert lab.platform.accounts.by_username(account.username).physician_id == physician
    ctx = context_for(account)
    assert (ctx.role, ctx.physician_id, ctx.lab_id) == (Role.PRESCRIBER, physician, lab.info.id)
    assert audit_detail(lab.platform, lab.info.id, account.id) == [
        ("user.create", {"role": "prescriber", "physician": str(physician)}),
        ("user.password_set", {"tokens_revoked": 0}),  # the owner replaced the password given
    ]


def test_a_physician_of_another_lab_or_none_is_not_found(labs: tuple[Lab, Lab]) -> None:
    lab, other = labs
    theirs = other.physician()
    with pytest.raises(NotFound, match="no physician"):
        lab.prescriber(theirs)
    with pytest.raises(NotFound, match="no physician"):
        lab.prescriber(uuid.uuid4())
    # Nor may the other lab's admin create one in this lab, for any physician.
    with pytest.raises(NotFound, match="no laboratory"):
        lab.prescriber(lab.physician(), creator=other.admin_ctx)


def test_one_active_account_per_physician(labs: tuple[Lab, Lab]) -> None:
    lab, _ = labs
    physician = lab.physician()
    first = lab.prescriber(physician)
    with pytest.raises(Conflict, match="already has an active prescriber account"):
        lab.prescriber(physician)
    accounts = lab.platform.accounts
    accounts.update_user(lab.admin_ctx, first.id, active=False)
    second = lab.prescriber(physician)  # the physician's new account once the old one is disabled
    assert second.physician_id == physician
    with pytest.raises(Conflict, match="already has an active prescriber account"):
        accounts.update_user(lab.admin_ctx, first.id, active=True)
    assert accounts.by_username(first.username).active is False


def test_the_database_refuses_what_the_service_refuses(labs: tuple[Lab, Lab]) -> None:
    """Below the service: a prescriber row without a physician, a staff row with one, and a second
    active account of one physician are refused by the database itself."""
    lab, _ = labs
    physician = lab.physician()
    lab.prescriber(physician)
    now = utcnow()

    def row(role: str, physician_id: uuid.UUID | None, active: bool = True) -> dict[str, object]:
        return {
            "id": uuid.uuid4(),
            "lab_id": lab.info.id,
            "username": f"raw{uuid.uuid4().hex[:12]}",
            "password_hash": "x",
            "role": role,
            "active": active,
            "created_at": now,
            "password_changed_at": now,
            "failed_logins": 0,
            "physician_id": physician_id,
        }

    for bad in (row("prescriber", None), row("technician", physician), row("prescriber", physician)):
        with pytest.raises(sqlalchemy.exc.IntegrityError), lab.platform.db.owner_engine.begin() as conn:
            conn.execute(insert(User), bad)
    with lab.platform.db.owner_engine.begin() as conn:  # a disabled second account is history
        conn.execute(insert(User), row("prescriber", physician, active=False))


def test_only_the_labs_admin_creates_one(labs: tuple[Lab, Lab]) -> None:
    lab, _ = labs
    physician = lab.physician()
    biologist = lab.factory.ctx(lab.info, Role.BIOLOGIST)
    with pytest.raises(Forbidden):
        lab.prescriber(physician, creator=biologist)
    with pytest.raises(Forbidden, match="first administrator"):
        lab.prescriber(physician, creator=cli_ctx())
    prescriber = context_for(lab.prescriber(physician))
    with pytest.raises(Forbidden):
        lab.prescriber(lab.physician(), creator=prescriber)


def test_the_role_and_the_physician_go_together(labs: tuple[Lab, Lab]) -> None:
    lab, _ = labs
    accounts = lab.platform.accounts
    with pytest.raises(InvalidInput, match="name the physician") as no_physician:
        accounts.create_user(lab.admin_ctx, "dr.sansmedecin", TEST_PASSWORD, Role.PRESCRIBER, lab.info.id)
    assert no_physician.value.field == "physician_id"
    with pytest.raises(InvalidInput, match="only a prescriber account"):
        accounts.create_user(
            lab.admin_ctx,
            "tech.medecin",
            TEST_PASSWORD,
            Role.TECHNICIAN,
            lab.info.id,
            physician_id=lab.physician(),
        )
    technician = lab.factory.user(lab.info, Role.TECHNICIAN)
    prescriber = lab.prescriber(lab.physician())
    with pytest.raises(InvalidInput, match="prescriber account stays"):
        accounts.update_user(lab.admin_ctx, technician.id, role=Role.PRESCRIBER)
    with pytest.raises(InvalidInput, match="prescriber account stays"):
        accounts.update_user(lab.admin_ctx, prescriber.id, role=Role.BIOLOGIST)
    assert accounts.by_username(prescriber.username).role is Role.PRESCRIBER


def test_a_prescriber_context_names_its_physician() -> None:
    lab = uuid.uuid4()
    with pytest.raises(ValueError, match="needs its physician"):
        AccessContext(uuid.uuid4(), "dr", Role.PRESCRIBER, lab)
    with pytest.raises(ValueError, match="only a prescriber context"):
        AccessContext(uuid.uuid4(), "t", Role.TECHNICIAN, lab, physician_id=uuid.uuid4())
    # Even for the prescriber's own account actions (sign-in, MFA), audited from the user row.
    with pytest.raises(ValueError, match="needs its physician"):
        AccessContext(uuid.uuid4(), "dr", Role.PRESCRIBER, lab, Purpose.ADMINISTRATION)


def test_a_prescriber_signs_in_and_their_token_acts_for_their_physician(labs: tuple[Lab, Lab]) -> None:
    lab, _ = labs
    physician = lab.physician()
    account = lab.prescriber(physician)
    accounts = lab.platform.accounts
    code = pool_for(lab.platform).fresh_code(account)  # MFA enrolment, then a code
    issued = accounts.login(account.username, TEST_PASSWORD, code, "127.0.0.1")
    caller = accounts.resolve_token(issued.token)
    assert (caller.role, caller.physician_id) == (Role.PRESCRIBER, physician)
    assert context_for(caller).physician_id == physician
    script = accounts.issue_token(caller, "script", dt.timedelta(hours=1))
    assert accounts.resolve_token(script.token).physician_id == physician


def test_cli_user_add_creates_a_prescriber_account(labs: tuple[Lab, Lab]) -> None:
    lab, other = labs
    settings = lab.platform.settings
    dirs = ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
    if settings.database_url:
        dirs += ["--database-url", settings.database_url]
    pool = pool_for(lab.platform)

    def add(username: str, physician_id: uuid.UUID) -> tuple[int, str]:
        code = pool.fresh_code(lab.admin)
        result = CliRunner().invoke(
            app,
            [
                *("user", "add", *dirs, "--username", username, "--role", "prescriber"),
                *("--lab", lab.info.code, "--physician-id", str(physician_id)),
                *("--admin", lab.admin.username, "--password-stdin"),
            ],
            input=f"{TEST_PASSWORD}\n{TEST_PASSWORD}\n{code}\n",
        )
        return result.exit_code, result.output

    physician = lab.physician()
    username = f"dr.cli{uuid.uuid4().hex[:8]}"
    code, output = add(username, physician)
    assert code == 0, output
    assert "(prescriber) created" in output
    assert lab.platform.accounts.by_username(username).physician_id == physician
    code, output = add(f"dr.cli{uuid.uuid4().hex[:8]}", other.physician())
    assert code == 2 and "no physician" in output


def test_a_username_taken_in_another_lab_is_taken_for_a_prescriber_too(labs: tuple[Lab, Lab]) -> None:
    """The prescriber's account is created in its lab's transaction, which (under row-level
    security) sees no other lab's accounts: the name is checked across the platform first, and a
    clash is named as such, never as the physician's."""
    lab, neighbour = labs
    taken = neighbour.factory.user(neighbour.info, Role.TECHNICIAN).username
    with pytest.raises(Conflict, match="is taken"):
        lab.platform.accounts.create_user(
            lab.admin_ctx, taken, TEST_PASSWORD, Role.PRESCRIBER, lab.info.id, physician_id=lab.physician()
        )
