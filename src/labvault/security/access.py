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
    # No account holds the two roles below. A prescriber account (a physician, users.physician_id)
    # is planned: the policy already decides it. SUPPORT is the context a platform operator gets
    # for one lab, only from a lab admin's active grant (security/support_grants.py).
    PRESCRIBER = "prescriber"
    SUPPORT = "support"


LAB_ROLES = (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST, Role.LAB_ADMIN)


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

    def __post_init__(self) -> None:
        if self.role is Role.PLATFORM_OPERATOR and self.lab_id is not None:
            raise ValueError("a platform operator acts for no laboratory (support: a SUPPORT context)")
        if self.role is not Role.PLATFORM_OPERATOR and self.lab_id is None:
            raise ValueError("a laboratory role needs its laboratory")
        if (self.role is Role.SUPPORT) != (self.grant_id is not None):
            raise ValueError("a support grant makes a SUPPORT context, and only that")
        if self.role is Role.SUPPORT and self.purpose is not Purpose.MAINTENANCE:
            raise ValueError("support access is for maintenance only")
