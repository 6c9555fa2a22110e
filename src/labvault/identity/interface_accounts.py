"""An interface account of a lab, found by the username a lab admin types: to map its codes, pin
its certificate, mark it an order sender, send it results or declare its QC lots. Another lab's
interface is as absent as a missing one."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from labvault.errors import NotFound
from labvault.identity.models import User
from labvault.security.access import Role


def interface_of_lab(session: Session, lab_id: uuid.UUID, username: str) -> User:
    """The interface account ``username`` of the lab ``lab_id``; NotFound otherwise."""
    user = session.scalar(
        select(User).where(
            User.username == username.strip().lower(),
            User.role == Role.INTERFACE.value,
            User.lab_id == lab_id,
        )
    )
    if user is None:
        raise NotFound(f"no interface account {username!r} in this laboratory")
    found: User = user
    return found
