"""What the order channels keep beyond the order itself.

An interface account sends orders only once a lab admin marked it an order sender
(:class:`OrderSender`): a results-only analyzer cannot create patients or orders, whatever it
sends. Each order received keeps the sender's placer order numbers (HL7 ORC-2), sealed and found
by a blind index: the same placer number from the same sender is one order, never two.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted


class OrderSender(TenantScoped, Base):
    """An interface account a lab admin allowed to send orders (and so pending identities)."""

    __tablename__ = "order_senders"
    __table_args__ = (Index("ix_order_senders_account", "lab_id", "account_id", unique=True),)

    account_id: Mapped[uuid.UUID]  # the interface account (users.id)
    marked_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    marked_at: Mapped[dt.datetime]


class PlacerOrder(TenantScoped, Base):
    """One placer order number (ORC-2) a sender gave, and the order it became."""

    __tablename__ = "placer_orders"
    __table_args__ = (
        Index("ix_placer_orders_sender_number", "lab_id", "sender_id", "placer_bidx", unique=True),
    )

    order_id: Mapped[uuid.UUID]
    sender_id: Mapped[uuid.UUID]
    placer_bidx: Mapped[bytes] = mapped_column(LargeBinary(16))
    placer_enc: Mapped[bytes | None] = encrypted()
    received_at: Mapped[dt.datetime]
