"""The role → permission table. Platform operators manage labs and accounts, never patient data."""

from __future__ import annotations

from enum import StrEnum

from labvault.errors import Forbidden
from labvault.security.access import AccessContext, Role


class Permission(StrEnum):
    PATIENT_READ = "patient.read"
    PATIENT_WRITE = "patient.write"
    PHYSICIAN_READ = "physician.read"
    PHYSICIAN_WRITE = "physician.write"
    LAB_MANAGE = "lab.manage"
    LAB_USERS_MANAGE = "lab.users.manage"
    PLATFORM_USERS_MANAGE = "platform.users.manage"
    KEYS_MANAGE = "keys.manage"
    AUDIT_READ = "audit.read"
    CATALOG_MANAGE = "catalog.manage"


_STAFF = {Permission.PATIENT_READ, Permission.PHYSICIAN_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.RECEPTION: frozenset(_STAFF | {Permission.PATIENT_WRITE, Permission.PHYSICIAN_WRITE}),
    Role.TECHNICIAN: frozenset(_STAFF),
    Role.BIOLOGIST: frozenset(
        _STAFF | {Permission.PATIENT_WRITE, Permission.PHYSICIAN_WRITE, Permission.CATALOG_MANAGE}
    ),
    Role.LAB_ADMIN: frozenset(
        _STAFF
        | {Permission.PATIENT_WRITE, Permission.PHYSICIAN_WRITE, Permission.LAB_USERS_MANAGE}
        | {Permission.KEYS_MANAGE, Permission.AUDIT_READ, Permission.CATALOG_MANAGE}
    ),
    Role.PLATFORM_OPERATOR: frozenset(
        {Permission.LAB_MANAGE, Permission.LAB_USERS_MANAGE, Permission.PLATFORM_USERS_MANAGE}
        | {Permission.KEYS_MANAGE, Permission.AUDIT_READ, Permission.CATALOG_MANAGE}
    ),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def require(ctx: AccessContext, permission: Permission) -> None:
    """Raise :class:`Forbidden` unless the context's role holds ``permission``."""
    if not allows(ctx.role, permission):
        raise Forbidden(f"role {ctx.role.value} may not {permission.value}")


def require_lab(ctx: AccessContext, permission: Permission) -> None:
    """Like :func:`require`, for actions on a lab's own data: a lab scope is mandatory."""
    require(ctx, permission)
    if ctx.lab_id is None:
        raise Forbidden(f"{permission.value} needs a laboratory scope")
