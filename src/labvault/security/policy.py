"""The access policy: one function, :func:`decide`, answers every access to patient data.

A decision depends on who asks (role), whether the record is of the asker's lab, the asker's
relationship to the patient (none, or the order's prescriber), how sensitive the data is (normal,
or restricted: HIV, hepatitis, syphilis, pregnancy...), why (purpose), and whether the asker holds
an open break-the-glass override for that patient. It builds on the role table of
:mod:`labvault.security.permissions` (what a role may do at all) and adds, in this order:

1. another lab's record: refused, whoever asks;
2. SUPPORT (a platform operator inside one lab, from a lab admin's grant): maintenance only,
   never restricted data; a platform operator without a grant: nothing of any patient;
3. maintenance is platform support's purpose, never lab staff's;
4. a prescriber: only the orders they prescribed, restricted tests included, for care;
5. restricted data without the standing right (biologists'): the glass may be broken for reading
   (orders, results, reports), for care only; it opens with an active override;
6. otherwise the role table's answer.

``tests/security/test_policy_table.py`` holds the whole table, written out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum

from labvault.errors import Forbidden, NotFound
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.permissions import Permission, allows


class Sensitivity(StrEnum):
    NORMAL = "normal"
    RESTRICTED = "restricted"


class Relationship(StrEnum):
    """The asker's tie to the patient whose record is read."""

    NONE = "none"
    PRESCRIBER = "prescriber"  # the physician who prescribed the order


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    BREAK_GLASS = "break_glass"  # refused now; an active break-the-glass override would allow it


# What touches a patient's record; the other permissions (labs, accounts, keys, catalogue,
# physicians) are decided by the role table alone.
PATIENT_DATA = frozenset(
    {
        Permission.PATIENT_READ,
        Permission.PATIENT_WRITE,
        Permission.ORDER_READ,
        Permission.ORDER_WRITE,
        Permission.SPECIMEN_HANDLE,
        Permission.RESULT_READ,
        Permission.RESULT_ENTER,
        Permission.RESULT_TECH_VALIDATE,
        Permission.RESULT_BIO_VALIDATE,
        Permission.CRITICAL_CALL,
        Permission.RESTRICTED_READ,
        Permission.REPORT_RELEASE,
        Permission.REPORT_READ,
        Permission.ACCESS_LOG_READ,
        Permission.WORKLIST_QUERY,
    }
)
# What an interface does only once a lab admin marked it an order sender: orders in, and the
# pending identities of the patients they name that no one here matched.
ORDER_SENDING = frozenset({Permission.ORDER_WRITE, Permission.PATIENT_WRITE})
# Breaking the glass lets one read; it never lets one enter, validate or sign a restricted test.
GLASS_READS = frozenset({Permission.ORDER_READ, Permission.RESULT_READ, Permission.REPORT_READ})


@dataclass(frozen=True)
class AccessRequest:
    role: Role
    permission: Permission
    same_lab: bool = True
    relationship: Relationship = Relationship.NONE
    sensitivity: Sensitivity = Sensitivity.NORMAL
    purpose: Purpose = Purpose.CARE
    override: bool = False  # an active break-the-glass override for this patient
    order_sender: bool = False  # an interface marked to send orders (AccessContext.order_sender)


@dataclass(frozen=True)
class Decision:
    effect: Effect
    reason: str

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


def _allow(reason: str) -> Decision:
    return Decision(Effect.ALLOW, reason)


def _deny(reason: str) -> Decision:
    return Decision(Effect.DENY, reason)


def decide(request: AccessRequest) -> Decision:
    """The policy (see the module docstring for the order of the rules)."""
    role, permission, purpose = request.role, request.permission, request.purpose
    if not allows(role, permission):
        if role is Role.PLATFORM_OPERATOR and permission in PATIENT_DATA:
            return _deny(
                "a platform operator holds no access to patient data: a lab admin may grant support access"
            )
        return _deny(f"role {role.value} may not {permission.value}")
    if permission not in PATIENT_DATA:
        return _allow("role table")
    if not request.same_lab:
        return _deny("the record belongs to another laboratory")
    if role is Role.SUPPORT:
        if purpose is not Purpose.MAINTENANCE:
            return _deny("support access is for maintenance only")
        if request.sensitivity is Sensitivity.RESTRICTED:
            return _deny("support access never covers restricted tests")
        return _allow("support grant: read-only maintenance")
    if purpose is Purpose.MAINTENANCE:
        return _deny("maintenance is platform support's purpose: state why you, as lab staff, need this")
    if role is Role.INTERFACE:
        if purpose is not Purpose.CARE:
            return _deny("an interface works for care only")
        if permission is Permission.WORKLIST_QUERY:  # the tests to run on the tube it holds
            return _allow("the lab's interface: the tests still to run on a tube it holds")
        if permission in ORDER_SENDING and not request.order_sender:
            return _deny("this interface is not an order sender: a lab admin marks it one")
        # What an instrument measured, restricted tests included: it enters, it never reads back.
        return _allow("the lab's interface: entry of what its instrument measured")
    if role is Role.PRESCRIBER:
        if request.relationship is not Relationship.PRESCRIBER:
            return _deny("a prescriber sees only the orders they prescribed")
        if purpose is not Purpose.CARE:
            return _deny("a prescriber reads results for care only")
        return _allow("the order's prescriber")
    if request.sensitivity is Sensitivity.RESTRICTED and not allows(role, Permission.RESTRICTED_READ):
        if permission not in GLASS_READS:
            return _deny("restricted tests are handled by biologists only")
        if purpose is not Purpose.CARE:
            return _deny("the glass is broken for care only")
        if request.override:
            return _allow("break-the-glass override")
        return Decision(
            Effect.BREAK_GLASS,
            "restricted result: biologists and the prescriber only, or break the glass "
            "(POST /api/v1/break-glass)",
        )
    return _allow("role table")


def request_for(
    ctx: AccessContext,
    permission: Permission,
    *,
    sensitivity: Sensitivity = Sensitivity.NORMAL,
    relationship: Relationship = Relationship.NONE,
    override: bool = False,
) -> AccessRequest:
    """The request of ``ctx`` on its own lab's data (services only ever open their own lab: the
    session filter and row-level security keep other labs' rows out of reach)."""
    return AccessRequest(
        ctx.role, permission, True, relationship, sensitivity, ctx.purpose, override, ctx.order_sender
    )


def enforce(
    ctx: AccessContext,
    permission: Permission,
    *,
    relationship: Relationship = Relationship.NONE,
    sensitivity: Sensitivity = Sensitivity.NORMAL,
) -> None:
    """Raise :class:`Forbidden` with the policy's reason unless ``ctx`` may do ``permission``."""
    decision = decide(request_for(ctx, permission, sensitivity=sensitivity, relationship=relationship))
    if not decision.allowed:
        raise Forbidden(decision.reason)


def relationship_to(ctx: AccessContext, prescriber_id: uuid.UUID | None) -> Relationship:
    """The asker's tie to an order prescribed by ``prescriber_id``: PRESCRIBER only for the
    account of that very physician (an order without a prescriber is nobody's)."""
    if ctx.role is Role.PRESCRIBER and ctx.physician_id is not None and prescriber_id == ctx.physician_id:
        return Relationship.PRESCRIBER
    return Relationship.NONE


def prescriber_of(ctx: AccessContext) -> uuid.UUID | None:
    """The physician whose orders alone a list may show ``ctx``: None for the lab's staff (every
    order of the lab), the prescriber's own physician otherwise. A prescriber context naming no
    physician is refused, never widened to every order."""
    if ctx.role is not Role.PRESCRIBER:
        return None
    if ctx.physician_id is None:
        raise Forbidden("a prescriber account acts for its physician: this context names none")
    return ctx.physician_id


def enforce_on_own_orders(ctx: AccessContext, permission: Permission) -> None:
    """The gate of a read that is then decided order by order: whether ``ctx`` could do
    ``permission`` on the orders it has a tie to. For a prescriber it assumes the tie, so every
    service that opens with this gate must then decide each order it shows (or filter its query
    to the prescriber's own orders, :func:`prescriber_of`); for everyone else it is
    :func:`enforce` itself."""
    if prescriber_of(ctx) is None:
        enforce(ctx, permission)
        return
    enforce(ctx, permission, relationship=Relationship.PRESCRIBER)


def with_override(request: AccessRequest) -> AccessRequest:
    return replace(request, override=True)


def require(ctx: AccessContext, permission: Permission) -> None:
    """Raise :class:`Forbidden` unless the policy allows the context ``permission`` on its own
    lab's normal (not restricted) data."""
    enforce(ctx, permission)


def require_lab(ctx: AccessContext, permission: Permission) -> None:
    """Like :func:`require`, for actions on a lab's own data: a lab scope is mandatory."""
    require(ctx, permission)
    if ctx.lab_id is None:
        raise Forbidden(f"{permission.value} needs a laboratory scope")


def require_own_orders(ctx: AccessContext, permission: Permission) -> None:
    """:func:`require_lab`, except that a prescriber is let through on the orders they prescribed
    (decided order by order afterwards, or selected with :func:`prescriber_of`)."""
    enforce_on_own_orders(ctx, permission)
    if ctx.lab_id is None:
        raise Forbidden(f"{permission.value} needs a laboratory scope")


def require_lab_object(ctx: AccessContext, lab_id: uuid.UUID | None, what: str) -> None:
    """An object of ``lab_id`` (None: the platform's) is the platform operator's to reach, or an
    object of the caller's own lab; anything else is as absent as what does not exist (404 ``no
    {what}``), so that no lab learns what another holds."""
    if ctx.role is not Role.PLATFORM_OPERATOR and ctx.lab_id != lab_id:
        raise NotFound(f"no {what}")


def role_may(role: Role, permission: Permission) -> bool:
    """Whether ``role`` may ever do ``permission`` (the role table alone): what a page offers or a
    summary includes. Never an access decision: the services ask :func:`decide` for that."""
    return allows(role, permission)
