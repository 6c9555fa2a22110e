"""Who is acting, for which lab, in which role and why: required by every patient-data service call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    RECEPTION = "reception"
    TECHNICIAN = "technician"
    BIOLOGIST = "biologist"
    LAB_ADMIN = "lab_admin"
    PLATFORM_OPERATOR = "platform_operator"
    # A physician of the lab (users.physician_id), created by a lab admin: reads only the orders
    # they prescribed (security/policy.py; the services compute the relationship per order).
    PRESCRIBER = "prescriber"
    # No account holds this one: the context a platform operator gets for one lab, only from a lab
    # admin's active grant (oversight/support_grants.py).
    SUPPORT = "support"
    # A connection of the lab (an analyzer, a middleware, a hospital system), never a person: it
    # enters what its instrument measured through its channel (interop/), and reads nothing back.
    INTERFACE = "interface"


# The lab's staff: what a lab admin may give or change to (a staff account never becomes a
# prescriber account, nor the reverse: one is a physician, the other is not).
LAB_ROLES = (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST, Role.LAB_ADMIN)
# Every role an account of a laboratory may hold.
LAB_ACCOUNT_ROLES = (*LAB_ROLES, Role.PRESCRIBER, Role.INTERFACE)


class Purpose(StrEnum):
    """Why the data is accessed; recorded in every audit event."""

    CARE = "care"
    IDENTITY_VIGILANCE = "identity_vigilance"
    ADMINISTRATION = "administration"
    MAINTENANCE = "maintenance"  # platform work; for patient data, platform support under a grant only


@dataclass(frozen=True, slots=True)
class AccessContext:
    """One named person (or the local CLI operator) acting in one lab, in one role, for one purpose."""

    actor_id: uuid.UUID | None
    actor_label: str
    role: Role
    lab_id: uuid.UUID | None
    purpose: Purpose = Purpose.CARE
    origin: str = "local"
    grant_id: uuid.UUID | None = None  # the support grant a SUPPORT context was built from
    physician_id: uuid.UUID | None = None  # a PRESCRIBER's physician (users.physician_id)
    order_sender: bool = False  # an INTERFACE a lab admin marked to send orders (interop/order_intake.py)

    def __post_init__(self) -> None:
        if self.role is Role.PLATFORM_OPERATOR and self.lab_id is not None:
            raise ValueError("a platform operator acts for no laboratory (support: a SUPPORT context)")
        if self.role is not Role.PLATFORM_OPERATOR and self.lab_id is None:
            raise ValueError("a laboratory role needs its laboratory")
        if (self.role is Role.SUPPORT) != (self.grant_id is not None):
            raise ValueError("a support grant makes a SUPPORT context, and only that")
        if self.role is Role.SUPPORT and self.purpose is not Purpose.MAINTENANCE:
            raise ValueError("support access is for maintenance only")
        if self.role is not Role.PRESCRIBER and self.physician_id is not None:
            raise ValueError("only a prescriber context names a physician")
        if self.role is Role.PRESCRIBER and self.physician_id is None:
            raise ValueError("a prescriber context needs its physician")
        if self.order_sender and self.role is not Role.INTERFACE:
            raise ValueError("only an interface context sends orders")

    @classmethod
    def console(cls, label: str) -> AccessContext:
        """The local operator at the server's console (CLI, demo seeding): the platform operator,
        for maintenance, with no account behind it (``label`` names the system user)."""
        return cls(None, label, Role.PLATFORM_OPERATOR, None, Purpose.MAINTENANCE)

    @classmethod
    def console_officer(cls, label: str, lab_id: uuid.UUID) -> AccessContext:
        """The local operator at the console acting as ``lab_id``'s security officer (canaries,
        alerts, breach response from the CLI): the lab's admin, for administration."""
        return cls(None, label, Role.LAB_ADMIN, lab_id, Purpose.ADMINISTRATION, "cli")

    @classmethod
    def anonymous(cls, origin: str) -> AccessContext:
        """Nobody yet: a sign-in that named no account. Its events go on the platform chain, with
        the platform role that chain's contexts carry."""
        return cls(None, "anonymous", Role.PLATFORM_OPERATOR, None, Purpose.ADMINISTRATION, origin)
