"""Every message a channel received, accepted or refused: the lab's record of what came in.

The raw message is sealed like any patient field (it names patients and holds their results): kept
for replay and dispute, never readable from the database alone. An accepted message's control id
is unique per sender (MSH-10 for HL7): a message sent again, because its acknowledgement was
lost, is acknowledged again from here without a second effect. A refused one is a dead letter: its
reason names a place in the message (segment, field) and never a value; the lab admin lists them.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted

ACCEPTED = "accepted"
REFUSED = "refused"


class InterfaceMessage(TenantScoped, Base):
    """One received message: who sent it (an interface account), its channel and control id, the
    outcome, the acknowledgement sent, the sealed message."""

    __tablename__ = "interface_messages"
    __table_args__ = (
        Index(
            "ix_interface_messages_accepted_control",
            "lab_id",
            "sender_id",
            "control_id",
            unique=True,
            sqlite_where=text("state = 'accepted'"),
            postgresql_where=text("state = 'accepted'"),
        ),
        Index("ix_interface_messages_lab_state_at", "lab_id", "state", "received_at"),
    )

    sender_id: Mapped[uuid.UUID]  # the interface account (users.id)
    channel: Mapped[str] = mapped_column(String(16))  # hl7v2, astm, fhir
    control_id: Mapped[str] = mapped_column(String(199))  # MSH-10; "" when unreadable
    message_type: Mapped[str] = mapped_column(String(32))  # ORU^R01; "" when unreadable
    received_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(16))
    ack_code: Mapped[str] = mapped_column(String(2))
    error_location: Mapped[str | None] = mapped_column(String(64), nullable=True)  # OBX[2]-3.1
    error_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    results: Mapped[int] = mapped_column(default=0)  # results entered
    ack: Mapped[bytes] = mapped_column(LargeBinary())  # ids and reasons only: no patient data
    message_enc: Mapped[bytes | None] = encrypted()
