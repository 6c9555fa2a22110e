"""Released results out to the lab's receivers as HL7 v2 ORU^R01, through a durable outbox.

A release (or a corrected release) writes one sealed message per entitled receiver in the
release's own transaction (:meth:`Outbox.enqueue`, the report service's release hook): nothing
released is ever left unsent by a crash. :meth:`Outbox.deliver_due` sends what is due over MLLP,
one connection per message, and records the outcome as the receiver's interface account: AA sent,
AE/AR refused (kept, with the receiver's ERR reason), no answer or no connection retried after a
growing pause (5 s doubling, at most 5 minutes: a receiver down for an hour loses nothing). A
message keeps its control id on every attempt: delivery is at least once (a crash between the
receiver's ACK and its record sends it again), and the receiver recognises a repeat by MSH-10.
Every delivery is audited with its patient. A receiver without TLS is on loopback only; with TLS
its certificate is verified (its CA, its host name) and an untrusted one is a failed attempt,
retried like a receiver down. A disabled receiver account's messages wait.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from labvault.catalog.service import CatalogService
from labvault.errors import NotFound
from labvault.identity import patient_codec
from labvault.identity.accounts import account_of, context_for
from labvault.identity.interface_accounts import interface_of_lab
from labvault.identity.models import Patient, User
from labvault.interop.hl7v2.oru_out import OruHeader, build_oru
from labvault.interop.outbound_models import PENDING, REFUSED, SENT, OutboundReceiver, OutboxMessage
from labvault.interop.serving import require_loopback
from labvault.interop.tls import ClientTls, check_ca_pem, client_context
from labvault.keys.store import KeyStore
from labvault.reports.view import ReportView
from labvault.security import audit
from labvault.security.access import AccessContext, Purpose
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.database import Database
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.base import Unit
from labvault.workflow.models import Order

MESSAGES = SealedColumns(OutboxMessage, "message")  # the ORU^R01 to send, sealed in its column
SEND_TIMEOUT_S = 10.0
FIRST_PAUSE_S = 5
LONGEST_PAUSE_S = 300
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\r"
MAX_ACK = 64 * 1024


@dataclass(frozen=True)
class ReceiverInfo:
    id: uuid.UUID
    interface: str
    host: str
    port: int
    physician_id: uuid.UUID | None


@dataclass(frozen=True)
class Delivered:
    sent: int = 0
    refused: int = 0
    retried: int = 0


class Outbox:
    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        catalogs: CatalogService,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.gate = Gate(db, keys)
        self.catalogs = catalogs
        self.clock = clock

    # --- receivers ----------------------------------------------------------------------------

    def add_receiver(
        self,
        ctx: AccessContext,
        interface: str,
        host: str,
        port: int,
        physician_id: uuid.UUID | None = None,
        tls: ClientTls | None = None,
    ) -> ReceiverInfo:
        """Send the lab's released results to ``host:port`` as the interface account ``interface``;
        bound to ``physician_id``: that physician's orders only, restricted tests included. Without
        ``tls``: loopback only; with it, any host, its certificate verified (interop/tls.py)."""
        if tls is None:
            require_loopback(host)
        else:
            check_ca_pem(tls.ca_pem)
            client_context(tls)  # the files given must load now, not at the first delivery
        with self.gate.lab_rows(ctx, Permission.INTERFACES_MANAGE) as lab:
            account_id = interface_of_lab(lab.session, lab.lab_id, interface).id
            row = OutboundReceiver(
                id=uuid.uuid4(),
                lab_id=lab.lab_id,
                account_id=account_id,
                host=host,
                port=port,
                physician_id=physician_id,
                active=True,
                tls_ca_pem=tls.ca_pem if tls else None,
                tls_server_name=tls.server_name if tls else None,
                tls_cert_path=tls.cert_path if tls else None,
                tls_key_path=tls.key_path if tls else None,
            )
            lab.session.add(row)
            lab.session.flush()
            detail: dict[str, object] = {
                "host": host,
                "port": port,
                "physician": str(physician_id) if physician_id else None,
            }
            if tls is not None:
                detail["tls"] = {"server_name": tls.server_name, "client_cert": bool(tls.cert_path)}
            audit.append(
                lab.session, ctx, AuditRecord("interface.receiver_add", "user", str(account_id), detail)
            )
        return ReceiverInfo(row.id, interface, host, port, physician_id)

    # --- the release hook ---------------------------------------------------------------------

    def enqueue(self, unit: Unit, ctx: AccessContext, order: Order, view: ReportView) -> None:
        """One sealed ORU^R01 per entitled receiver, in the release's transaction."""
        receivers = unit.session.scalars(
            select(OutboundReceiver).where(OutboundReceiver.active.is_(True))
        ).all()
        if not receivers:
            return
        patient = patient_codec.decode(unit.keys, unit.session.get_one(Patient, order.patient_id)).data
        names = dict(
            unit.session.execute(
                select(User.id, User.username).where(User.id.in_([r.account_id for r in receivers]))
            ).all()
        )
        now = self.clock()
        for receiver in receivers:
            if receiver.physician_id is not None and receiver.physician_id != order.prescriber_id:
                continue
            left_out = unit.catalog.restricted_codes if receiver.physician_id is None else frozenset()
            control_id = uuid.uuid4().hex[:20].upper()
            header = OruHeader(view.lab.code, names.get(receiver.account_id, ""), control_id, now)
            message = build_oru(
                header, order.patient_id, patient, order.accession, view, unit.catalog, left_out
            )
            row_id = uuid.uuid4()
            unit.session.add(
                OutboxMessage(
                    id=row_id,
                    lab_id=unit.lab_id,
                    receiver_id=receiver.id,
                    order_id=order.id,
                    report_version=view.version,
                    control_id=control_id,
                    created_at=now,
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    message_enc=MESSAGES.seal_bytes(unit.keys.cipher, "message", row_id, message),
                )
            )
            detail = {"receiver": str(receiver.account_id), "control_id": control_id, "version": view.version}
            audit.append(
                unit.session,
                ctx,
                AuditRecord(
                    "interface.queue", "outbox_message", str(row_id), detail, patient_id=order.patient_id
                ),
            )

    # --- delivery -----------------------------------------------------------------------------

    def deliver_due(self, *, limit: int = 100) -> Delivered:
        """Send what is due now, oldest first; returns what became of it."""
        now = self.clock()
        with self.gate.maintenance() as session:
            due = session.execute(
                select(OutboxMessage.id, OutboxMessage.lab_id, OutboundReceiver.account_id)
                .join(OutboundReceiver, OutboundReceiver.id == OutboxMessage.receiver_id)
                .join(User, User.id == OutboundReceiver.account_id)
                .where(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now)
                # A receiver switched off, or whose account is disabled, keeps its messages waiting.
                .where(OutboundReceiver.active.is_(True), User.active.is_(True))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
                .limit(limit)
            ).all()
        sent = refused = retried = 0
        for message_id, _lab_id, account_id in due:
            outcome = self._deliver(message_id, account_id)
            sent += outcome == SENT
            refused += outcome == REFUSED
            retried += outcome == PENDING
        return Delivered(sent, refused, retried)

    def _deliver(self, message_id: uuid.UUID, account_id: uuid.UUID) -> str:
        ctx = self._receiver_context(account_id)
        with self.gate.lab(ctx, Permission.OUTBOX_DELIVER) as lab:
            row = lab.session.get_one(OutboxMessage, message_id)
            receiver = lab.session.get_one(OutboundReceiver, row.receiver_id)
            message = MESSAGES.open_bytes(lab.keys.cipher, row, "message")
            address = (receiver.host, receiver.port)
            tls = _tls_of(receiver)
        assert message is not None
        try:
            ack: bytes | None = _send(address, message, tls)
            error = None
        except ssl.SSLCertVerificationError:
            ack, error = None, "the receiver's certificate is not trusted (TLS)"
        except OSError as exc:
            ack, error = None, f"no acknowledgement ({type(exc).__name__})"
        with self.gate.lab(ctx, Permission.OUTBOX_DELIVER) as lab:
            row = lab.session.get_one(OutboxMessage, message_id, with_for_update=True)
            order = lab.session.get_one(Order, row.order_id)
            if row.state != PENDING:
                return str(row.state)  # another deliverer got there first
            now = self.clock()
            row.attempts += 1
            code = _ack_code(ack, row.control_id) if ack is not None else None
            if code == "AA":
                row.state, row.sent_at, row.ack_code, row.last_error = SENT, now, code, None
            elif code in ("AE", "AR"):
                row.state, row.ack_code, row.last_error = REFUSED, code, _err_text(ack or b"")
            else:
                pause = min(FIRST_PAUSE_S * 2 ** (row.attempts - 1), LONGEST_PAUSE_S)
                row.next_attempt_at = now + dt.timedelta(seconds=pause)
                row.last_error = error or "an acknowledgement that does not answer this message"
            detail = {
                "control_id": row.control_id,
                "outcome": row.state,
                "ack": code,
                "attempt": row.attempts,
            }
            audit.append(
                lab.session,
                ctx,
                AuditRecord(
                    "interface.deliver", "outbox_message", str(row.id), detail, patient_id=order.patient_id
                ),
            )
            return str(row.state)

    def _receiver_context(self, account_id: uuid.UUID) -> AccessContext:
        with self.gate.lookup() as session:
            user = session.get(User, account_id)
            if user is None or user.lab_id is None:
                raise NotFound(f"no interface account {account_id}")
            return context_for(account_of(user), Purpose.CARE, "outbox")


def _tls_of(receiver: OutboundReceiver) -> ClientTls | None:
    if receiver.tls_ca_pem is None:
        return None
    return ClientTls(
        receiver.tls_ca_pem, receiver.tls_server_name, receiver.tls_cert_path, receiver.tls_key_path
    )


def _send(address: tuple[str, int], message: bytes, tls: ClientTls | None = None) -> bytes:
    """One message over a new MLLP connection (TLS when the receiver has it, its certificate and
    host name verified); the acknowledgement's bytes, unframed."""
    with socket.create_connection(address, timeout=SEND_TIMEOUT_S) as plain:
        connection = plain
        if tls is not None:
            connection = client_context(tls).wrap_socket(plain, server_hostname=tls.server_name or address[0])
        with connection:
            connection.sendall(START_BLOCK + message + END_BLOCK)
            answer = b""
            while END_BLOCK not in answer and len(answer) < MAX_ACK:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
    return answer.strip(b"\x0b\x1c\r\n")


def _ack_code(ack: bytes, control_id: str) -> str | None:
    """MSA-1 when MSA-2 answers this message's control id."""
    for segment in ack.replace(b"\n", b"\r").split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"MSA" and len(fields) > 2 and fields[2].decode(errors="replace") == control_id:
            return fields[1].decode(errors="replace")
    return None


def _err_text(ack: bytes) -> str:
    """The receiver's own ERR/MSA-3 text, as it gave it (a receiver's reason, not our data)."""
    for segment in ack.replace(b"\n", b"\r").split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"ERR" and len(fields) > 3:
            message = fields[8] if len(fields) > 8 and fields[8] else fields[3]  # ERR-8, else ERR-3
            return message.decode(errors="replace")[:300]
        if fields[0] == b"MSA" and len(fields) > 3 and fields[3]:
            return fields[3].decode(errors="replace")[:300]
    return "refused by the receiver"
