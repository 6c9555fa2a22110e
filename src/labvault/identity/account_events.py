"""What a laboratory's admins must see about its accounts: every new or re-enabled account, role
change, factor reset, and every platform action on one of its accounts is recorded on the lab's own
audit chain and raised as an alert of the lab (the trust model: docs/SECURITY.md, "Who can do what
to whose account").

Called inside a transaction of that lab, so the chain and the alert are the lab's.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from labvault.security import audit
from labvault.security.access import AccessContext, Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord


class AccountAlert(StrEnum):
    CREATED = "account_created"
    REENABLED = "account_reenabled"
    ROLE_CHANGED = "account_role_changed"
    FACTOR_RESET = "account_factor_reset"
    # Platform (operator) actions on one of the lab's accounts: always high.
    PLATFORM_ACTION = "platform_account_action"
    PLATFORM_ACTION_REQUESTED = "platform_account_action_requested"


def record(
    session: Session,
    ctx: AccessContext,
    lab_id: uuid.UUID,
    event: AuditRecord,
    alert: AccountAlert | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit event on the lab's chain, and the lab's alert (high when a platform operator
    acted: the lab did not do it itself)."""
    by_platform = ctx.role is Role.PLATFORM_OPERATOR
    if by_platform and alert is None:
        alert = AccountAlert.PLATFORM_ACTION
    audit.append(session, ctx, event, on_lab=lab_id if by_platform else None)
    if alert is None:
        return
    severity = Severity.HIGH if by_platform else Severity.MEDIUM
    spec_detail = {"action": event.action, "user_id": event.object_id, "by_platform": by_platform}
    raise_alert(
        session,
        ctx,
        AlertSpec(alert.value, severity, spec_detail | (detail or {})),
        on_lab=lab_id if by_platform else None,
    )
