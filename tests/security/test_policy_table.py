"""The access policy, every combination: action × role × relationship × sensitivity × purpose ×
same/other lab × break-the-glass override, against the table below, written out by hand from the
rules in docs/SECURITY.md (not computed by the code under test).

Cells: A allowed; D denied; G denied now, allowed once the asker holds an open break-the-glass
override for the patient (an override never changes an A or a D). ``*`` in the relationship or
sensitivity column: the row holds for every value. Relationship ``prescriber``: the asker is the
physician who prescribed the order; roles other than ``prescriber`` never have one, so their rows
hold whatever it says.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from labvault.errors import Forbidden
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.permissions import Permission
from labvault.security.policy import (
    AccessRequest,
    Effect,
    Relationship,
    Sensitivity,
    decide,
    require,
    require_lab,
)
from labvault.workflow.base import sees_restricted

# Columns: purposes care, identity_vigilance, administration, maintenance in the same lab | other lab.
TABLE = """
patient.read             reception          *           normal       A A A D | D
patient.read             reception          *           restricted   D D D D | D
patient.read             technician         *           normal       A A A D | D
patient.read             technician         *           restricted   D D D D | D
patient.read             biologist          *           *            A A A D | D
patient.read             lab_admin          *           normal       A A A D | D
patient.read             lab_admin          *           restricted   D D D D | D
patient.read             platform_operator  *           *            D D D D | D
patient.read             support            *           normal       D D D A | D
patient.read             support            *           restricted   D D D D | D
patient.read             prescriber         none        *            D D D D | D
patient.read             prescriber         prescriber  *            A D D D | D
patient.read             interface          *           *            D D D D | D

patient.write            reception          *           normal       A A A D | D
patient.write            reception          *           restricted   D D D D | D
patient.write            technician         *           *            D D D D | D
patient.write            biologist          *           *            A A A D | D
patient.write            lab_admin          *           normal       A A A D | D
patient.write            lab_admin          *           restricted   D D D D | D
patient.write            platform_operator  *           *            D D D D | D
patient.write            support            *           *            D D D D | D
patient.write            prescriber         *           *            D D D D | D
patient.write            interface          *           *            D D D D | D

order.read               reception          *           normal       A A A D | D
order.read               reception          *           restricted   G D D D | D
order.read               technician         *           normal       A A A D | D
order.read               technician         *           restricted   G D D D | D
order.read               biologist          *           *            A A A D | D
order.read               lab_admin          *           *            D D D D | D
order.read               platform_operator  *           *            D D D D | D
order.read               support            *           normal       D D D A | D
order.read               support            *           restricted   D D D D | D
order.read               prescriber         none        *            D D D D | D
order.read               prescriber         prescriber  *            A D D D | D
order.read               interface          *           *            D D D D | D

result.read              reception          *           *            D D D D | D
result.read              technician         *           normal       A A A D | D
result.read              technician         *           restricted   G D D D | D
result.read              biologist          *           *            A A A D | D
result.read              lab_admin          *           *            D D D D | D
result.read              platform_operator  *           *            D D D D | D
result.read              support            *           *            D D D D | D
result.read              prescriber         none        *            D D D D | D
result.read              prescriber         prescriber  *            A D D D | D
result.read              interface          *           *            D D D D | D

result.enter             reception          *           *            D D D D | D
result.enter             technician         *           normal       A A A D | D
result.enter             technician         *           restricted   D D D D | D
result.enter             biologist          *           *            A A A D | D
result.enter             lab_admin          *           *            D D D D | D
result.enter             platform_operator  *           *            D D D D | D
result.enter             support            *           *            D D D D | D
result.enter             prescriber         *           *            D D D D | D
result.enter             interface          *           *            A D D D | D

report.read              reception          *           normal       A A A D | D
report.read              reception          *           restricted   G D D D | D
report.read              technician         *           *            D D D D | D
report.read              biologist          *           *            A A A D | D
report.read              lab_admin          *           *            D D D D | D
report.read              platform_operator  *           *            D D D D | D
report.read              support            *           *            D D D D | D
report.read              prescriber         none        *            D D D D | D
report.read              prescriber         prescriber  *            A D D D | D
report.read              interface          *           *            D D D D | D

patient.access_log.read  reception          *           *            D D D D | D
patient.access_log.read  technician         *           *            D D D D | D
patient.access_log.read  biologist          *           *            A A A D | D
patient.access_log.read  lab_admin          *           normal       A A A D | D
patient.access_log.read  lab_admin          *           restricted   D D D D | D
patient.access_log.read  platform_operator  *           *            D D D D | D
patient.access_log.read  support            *           *            D D D D | D
patient.access_log.read  prescriber         *           *            D D D D | D
patient.access_log.read  interface          *           *            D D D D | D

worklist.query           reception          *           *            D D D D | D
worklist.query           technician         *           *            D D D D | D
worklist.query           biologist          *           *            D D D D | D
worklist.query           lab_admin          *           *            D D D D | D
worklist.query           platform_operator  *           *            D D D D | D
worklist.query           support            *           *            D D D D | D
worklist.query           prescriber         *           *            D D D D | D
worklist.query           interface          *           *            A D D D | D
"""
PURPOSES = (Purpose.CARE, Purpose.IDENTITY_VIGILANCE, Purpose.ADMINISTRATION, Purpose.MAINTENANCE)
ACTIONS = (
    Permission.PATIENT_READ,
    Permission.PATIENT_WRITE,
    Permission.ORDER_READ,
    Permission.RESULT_READ,
    Permission.RESULT_ENTER,
    Permission.REPORT_READ,
    Permission.ACCESS_LOG_READ,
    Permission.WORKLIST_QUERY,
)
Key = tuple[Permission, Role, Relationship, Sensitivity, bool, Purpose]


def expected_table() -> dict[Key, str]:
    """Every (action, role, relationship, sensitivity, same lab, purpose) -> its cell, each once."""
    table: dict[Key, str] = {}
    for line in TABLE.strip().splitlines():
        if not line.strip():
            continue
        left, other_lab = line.split("|")
        action, role, relationship, sensitivity, *cells = left.split()
        assert len(cells) == len(PURPOSES), line
        relationships = list(Relationship) if relationship == "*" else [Relationship(relationship)]
        sensitivities = list(Sensitivity) if sensitivity == "*" else [Sensitivity(sensitivity)]
        for rel, sens in itertools.product(relationships, sensitivities):
            for purpose, cell in zip(PURPOSES, cells, strict=True):
                for same_lab, value in ((True, cell), (False, other_lab.strip())):
                    key = (Permission(action), Role(role), rel, sens, same_lab, purpose)
                    assert key not in table, f"two rows for {key}"
                    table[key] = value
    return table


EXPECTED = expected_table()
EFFECTS = {
    "A": (Effect.ALLOW, Effect.ALLOW),
    "D": (Effect.DENY, Effect.DENY),
    "G": (Effect.BREAK_GLASS, Effect.ALLOW),
}


def test_the_table_covers_every_combination_once() -> None:
    every = set(itertools.product(ACTIONS, Role, Relationship, Sensitivity, (True, False), PURPOSES))
    assert set(EXPECTED) == every
    assert len(EXPECTED) == len(ACTIONS) * len(Role) * 2 * 2 * 2 * 4


@pytest.mark.parametrize("action", ACTIONS, ids=str)
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_policy_matches_the_table(action: Permission, role: Role) -> None:
    wrong = []
    for (act, rl, rel, sens, same_lab, purpose), cell in EXPECTED.items():
        if (act, rl) != (action, role):
            continue
        without, with_override = EFFECTS[cell]
        for override, want in ((False, without), (True, with_override)):
            decision = decide(AccessRequest(role, action, same_lab, rel, sens, purpose, override))
            assert decision.reason, "every decision says why"
            if decision.effect is not want:
                wrong.append(
                    f"{rel}/{sens}/{'same' if same_lab else 'other'} lab/{purpose}/override={override}: "
                    f"{decision.effect} ({decision.reason}), table says {want}"
                )
    assert not wrong, "\n".join(wrong)


def test_management_permissions_follow_the_role_table_alone() -> None:
    """Labs, accounts, keys, physicians: no patient data, so neither purpose nor sensitivity matters."""
    for purpose in PURPOSES:
        operator = AccessRequest(Role.PLATFORM_OPERATOR, Permission.LAB_MANAGE, purpose=purpose)
        assert decide(operator).allowed
        admin = AccessRequest(Role.LAB_ADMIN, Permission.SUPPORT_GRANT_MANAGE, purpose=purpose)
        assert decide(admin).allowed
        assert not decide(
            AccessRequest(Role.BIOLOGIST, Permission.SUPPORT_GRANT_MANAGE, purpose=purpose)
        ).allowed
        assert not decide(AccessRequest(Role.SUPPORT, Permission.LAB_USERS_MANAGE, purpose=purpose)).allowed


def test_require_and_sees_restricted_ask_the_policy() -> None:
    lab = uuid.uuid4()
    reception = AccessContext(uuid.uuid4(), "r", Role.RECEPTION, lab)
    require(reception, Permission.PATIENT_READ)
    with pytest.raises(Forbidden, match="maintenance"):
        require(
            AccessContext(uuid.uuid4(), "r", Role.RECEPTION, lab, Purpose.MAINTENANCE),
            Permission.PATIENT_READ,
        )
    with pytest.raises(Forbidden, match="no access to patient data"):
        require(AccessContext(uuid.uuid4(), "op", Role.PLATFORM_OPERATOR, None), Permission.PATIENT_READ)
    support = AccessContext(uuid.uuid4(), "op", Role.SUPPORT, lab, Purpose.MAINTENANCE, grant_id=uuid.uuid4())
    require_lab(support, Permission.ORDER_READ)
    with pytest.raises(Forbidden):
        require_lab(support, Permission.RESULT_READ)
    with pytest.raises(Forbidden, match="prescribed"):
        require_lab(
            AccessContext(uuid.uuid4(), "dr", Role.PRESCRIBER, lab, physician_id=uuid.uuid4()),
            Permission.RESULT_READ,
        )
    assert sees_restricted(AccessContext(uuid.uuid4(), "b", Role.BIOLOGIST, lab))
    assert not sees_restricted(AccessContext(uuid.uuid4(), "t", Role.TECHNICIAN, lab))
    assert not sees_restricted(AccessContext(uuid.uuid4(), "b", Role.BIOLOGIST, lab, Purpose.MAINTENANCE))
    assert not sees_restricted(support, Permission.ORDER_READ)


def test_a_support_context_needs_a_grant_a_lab_and_maintenance() -> None:
    lab, grant = uuid.uuid4(), uuid.uuid4()
    for bad in (
        dict(lab_id=None, purpose=Purpose.MAINTENANCE, grant_id=grant),
        dict(lab_id=lab, purpose=Purpose.MAINTENANCE, grant_id=None),
        dict(lab_id=lab, purpose=Purpose.CARE, grant_id=grant),
    ):
        with pytest.raises(ValueError):
            AccessContext(uuid.uuid4(), "op", Role.SUPPORT, **bad)
    with pytest.raises(ValueError):
        AccessContext(uuid.uuid4(), "op", Role.PLATFORM_OPERATOR, lab)
    with pytest.raises(ValueError):
        AccessContext(uuid.uuid4(), "t", Role.TECHNICIAN, lab, grant_id=grant)


def test_an_interface_writes_orders_and_pending_identities_only_as_a_marked_order_sender() -> None:
    """The table above holds for interfaces not marked (every interface account by default)."""
    for permission in (Permission.ORDER_WRITE, Permission.PATIENT_WRITE):
        marked = AccessRequest(Role.INTERFACE, permission, order_sender=True)
        assert decide(marked).allowed
        assert not decide(AccessRequest(Role.INTERFACE, permission)).allowed
        assert not decide(
            AccessRequest(Role.INTERFACE, permission, same_lab=False, order_sender=True)
        ).allowed
        for purpose in (Purpose.IDENTITY_VIGILANCE, Purpose.ADMINISTRATION, Purpose.MAINTENANCE):
            assert not decide(
                AccessRequest(Role.INTERFACE, permission, purpose=purpose, order_sender=True)
            ).allowed
    for permission in (Permission.PATIENT_READ, Permission.ORDER_READ, Permission.RESULT_READ):
        assert not decide(AccessRequest(Role.INTERFACE, permission, order_sender=True)).allowed
    with pytest.raises(ValueError, match="only an interface"):
        AccessContext(uuid.uuid4(), "r", Role.RECEPTION, uuid.uuid4(), order_sender=True)


def test_incidents_are_the_lab_admins_alone() -> None:
    """Breach response (incidents, affected patients, drafts): the lab's security officer only."""
    for role in Role:
        for purpose in PURPOSES:
            request = AccessRequest(role, Permission.INCIDENTS_MANAGE, purpose=purpose)
            assert decide(request).allowed is (role is Role.LAB_ADMIN), (role, purpose)


# Analyzer QC (qc/): lab data, not patient data, so the role table alone decides, whatever the
# purpose. Columns: reception technician biologist lab_admin platform_operator prescriber support
# interface.
QC_TABLE = """
qc.read    D A A A D D D D
qc.enter   D A A D D D D A
qc.manage  D D A A D D D D
qc.decide  D D A D D D D D
"""
QC_ROLES = (
    Role.RECEPTION,
    Role.TECHNICIAN,
    Role.BIOLOGIST,
    Role.LAB_ADMIN,
    Role.PLATFORM_OPERATOR,
    Role.PRESCRIBER,
    Role.SUPPORT,
    Role.INTERFACE,
)


def test_qc_permissions_follow_their_table() -> None:
    assert set(QC_ROLES) == set(Role)
    rows = [line.split() for line in QC_TABLE.strip().splitlines()]
    assert {Permission(action) for action, *_ in rows} == {
        Permission.QC_READ,
        Permission.QC_ENTER,
        Permission.QC_MANAGE,
        Permission.QC_DECIDE,
    }
    wrong = []
    for action, *cells in rows:
        for role, cell in zip(QC_ROLES, cells, strict=True):
            for purpose in PURPOSES:
                decision = decide(AccessRequest(role, Permission(action), purpose=purpose))
                if decision.allowed is not (cell == "A"):
                    wrong.append(f"{action} {role} {purpose}: {decision.effect} ({decision.reason})")
    assert not wrong, "\n".join(wrong)
