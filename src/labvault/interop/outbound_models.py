"""Where released results go, and what waits to go there.

A receiver is a system that takes the lab's results (a hospital's, a practice's software), known
by its own interface account (who it is in the audit log) and an address. A receiver bound to a
physician takes that physician's orders only, restricted tests included (theirs by right); an
unbound one takes every order of the lab, restricted tests left out.

The outbox is durable: a message is written in the same transaction as the report release it
carries, sealed like any patient field, and leaves only once the receiver acknowledged it; until
then it is retried with a growing pause (a receiver down for an hour loses nothing).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted

PENDING = "pending"
SENT = "sent"
REFUSED = "refused"  # the receiver answered AE or AR: sending it again would not help


class OutboundReceiver(TenantScoped, Base):
    __tablename__ = "outbound_receivers"
    __table_args__ = (Index("ix_outbound_receivers_account", "lab_id", "account_id", unique=True),)

    account_id: Mapped[uuid.UUID]  # the receiver's interface account
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    physician_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # TLS (interop/tls.py): the CA certificates that sign the receiver's (public, PEM), the name its
    # certificate must carry, and the paths of labvault's own certificate and key on this server,
    # when the receiver asks for one (the key stays a file of the server, never in the database).
    tls_ca_pem: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    tls_server_name: Mapped[str | None] = mapped_column(String(255), nullable=True, default=None)
    tls_cert_path: Mapped[str | None] = mapped_column(String(1024), nullable=True, default=None)
    tls_key_path: Mapped[str | None] = mapped_column(String(1024), nullable=True, default=None)


class OutboxMessage(TenantScoped, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_control", "lab_id", "control_id", unique=True),
        Index("ix_outbox_messages_due", "state", "next_attempt_at"),
    )

    receiver_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    report_version: Mapped[int] = mapped_column(Integer)
    control_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ack_code: Mapped[str | None] = mapped_column(String(2), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)  # never a value
    message_enc: Mapped[bytes | None] = encrypted()
