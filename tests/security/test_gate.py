"""The access gate (security/gate.py): it decides before it opens, binds a lab unit's links, and
refuses another lab's objects as absent ones."""

from __future__ import annotations

import uuid

import pytest

from labvault.errors import Forbidden, NotFound
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.security.policy import prescriber_of, require_lab_object
from labvault.store.bound_links import SESSION_KEY
from labvault.store.database import Database
from tests.factories import Factory, cli_ctx


class _Untouched(Database):
    """A database no transaction may be opened on: the gate must refuse before opening."""

    def __init__(self) -> None:  # no engine at all
        pass

    def transaction(self, lab_id: uuid.UUID | None, *, unscoped: bool = False):  # type: ignore[no-untyped-def]
        raise AssertionError("a transaction was opened before the decision")


def test_a_refused_lab_unit_opens_no_transaction() -> None:
    gate = Gate(_Untouched())
    technician = AccessContext(uuid.uuid4(), "t", Role.TECHNICIAN, uuid.uuid4())
    with pytest.raises(Forbidden), gate.lab_rows(technician, Permission.LAB_USERS_MANAGE):
        pass
    with pytest.raises(Forbidden), gate.platform(technician, Permission.LAB_MANAGE):
        pass
    with pytest.raises(NotFound), gate.named_lab(technician, uuid.uuid4()):
        pass


def test_a_lab_unit_is_bound_to_its_lab_and_keys(factory: Factory) -> None:
    lab = factory.lab()
    gate = Gate(factory.platform.db, factory.platform.keys)
    with gate.lab(factory.ctx(lab, Role.RECEPTION), Permission.PATIENT_READ) as unit:
        assert unit.lab_id == lab.id
        assert unit.keys.lab_id == lab.id
        assert unit.session.info[SESSION_KEY] is unit.keys
    with pytest.raises(TypeError), Gate(factory.platform.db).lab(factory.ctx(lab), Permission.PATIENT_READ):
        pass


def test_another_labs_object_is_absent_not_forbidden() -> None:
    lab, other = uuid.uuid4(), uuid.uuid4()
    admin = AccessContext(uuid.uuid4(), "a", Role.LAB_ADMIN, lab, Purpose.ADMINISTRATION)
    require_lab_object(admin, lab, "laboratory")
    require_lab_object(cli_ctx(), other, "laboratory")
    with pytest.raises(NotFound, match=f"no laboratory {other}"):
        require_lab_object(admin, other, f"laboratory {other}")
    with pytest.raises(NotFound):
        require_lab_object(admin, None, "user")  # an operator's account


def test_a_prescriber_lists_only_their_physicians_orders() -> None:
    lab, physician = uuid.uuid4(), uuid.uuid4()
    assert prescriber_of(AccessContext(uuid.uuid4(), "b", Role.BIOLOGIST, lab)) is None
    dr = AccessContext(uuid.uuid4(), "dr", Role.PRESCRIBER, lab, physician_id=physician)
    assert prescriber_of(dr) == physician


def test_console_and_anonymous_contexts() -> None:
    assert AccessContext.console("cli:test") == cli_ctx()
    lab = uuid.uuid4()
    officer = AccessContext.console_officer("cli:me", lab)
    assert (officer.role, officer.lab_id, officer.purpose, officer.origin) == (
        Role.LAB_ADMIN,
        lab,
        Purpose.ADMINISTRATION,
        "cli",
    )
    anonymous = AccessContext.anonymous("203.0.113.9")
    assert (anonymous.actor_id, anonymous.actor_label, anonymous.role) == (
        None,
        "anonymous",
        Role.PLATFORM_OPERATOR,
    )
    assert anonymous.origin == "203.0.113.9"
