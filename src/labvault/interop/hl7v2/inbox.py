"""An interface account's HL7 v2 messages in, their acknowledgements out.

Per message, in this order: the sender is read again from the database (a disabled or removed
interface is refused at its very next message, with an alert); the envelope is read; a control id
already accepted from this sender is acknowledged again from the stored acknowledgement, with no
second effect; an order message (OML^O21, ORM^O01) goes to the order intake
(interop/hl7v2/orders.py, interop/order_intake.py); the ORU^R01 is read and checked; then the
channel-neutral intake (interop/intake.py) resolves each observation to its order item and
enters the results with the message's sealed record in one transaction. The acknowledgement
is returned only after that commit. Any refusal is an AE or AR naming the segment and field, and
the message is kept as a dead letter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.exc import IntegrityError

from labvault.identity.accounts import Account, context_for
from labvault.interop import intake
from labvault.interop.hl7v2.ack import build_ack
from labvault.interop.hl7v2.envelope import Envelope, HeaderRefusal, parse
from labvault.interop.hl7v2.orders import ORDER_MESSAGES, hl7_refusal, identity_of, read_orders, requested_of
from labvault.interop.hl7v2.oru import CORRECTION, LOINC_SYSTEMS, Observation, check, read_oru
from labvault.interop.hl7v2.refusal import AckCode, ErrorCode, Hl7Refusal, Location, error
from labvault.interop.intake import Intake, IntakeRefusal, Kind, Measured, Part, Received, UnknownSender
from labvault.interop.models import ACCEPTED, REFUSED
from labvault.interop.order_intake import OrderIntake, OrderRefusal
from labvault.security.access import AccessContext, Purpose
from labvault.store.base import utcnow

CHANNEL = "hl7v2"
APPLICATION = "LABVAULT"
__all__ = ["CHANNEL", "Hl7Inbox", "UnknownSender"]


class Hl7Inbox:
    """What an MLLP listener hands each message to (interop/hl7v2/listener.py)."""

    def __init__(self, intake: Intake, orders: OrderIntake | None = None) -> None:
        self.intake = intake
        self.orders = orders  # OML^O21 / ORM^O01 in (interop/order_intake.py); None: refused AR

    def sender_of(self, username: str) -> Account | None:
        """The active interface account of that name (a listener starts only for one)."""
        return self.intake.active_sender(username)

    def receive(self, username: str, raw: bytes, origin: str) -> bytes:
        """The acknowledgement of ``raw`` from the interface account ``username``: AA once its
        results are committed, AE/AR (kept as a dead letter) otherwise."""
        now = utcnow()
        account = self.intake.sender(username)
        if account is None:
            raise UnknownSender(username)
        ctx = context_for(account, Purpose.CARE, origin)
        facility = str(account.lab_id)
        envelope: Envelope | None = None
        if not account.active:
            self.intake.alert_refused_sender(ctx, CHANNEL, "disabled")
        try:
            envelope = parse(raw)
            if not account.active:
                raise error(
                    ErrorCode.UNKNOWN_KEY, Location("MSH", 1, 3), "this interface account is disabled"
                )
            stored = self.intake.accepted_ack(ctx, CHANNEL, envelope.control_id)
            if stored is not None:
                return stored
            if self.orders is not None and (envelope.message_type, envelope.trigger) in ORDER_MESSAGES:
                return self._orders(ctx, envelope, raw, now, facility)
            observations = read_oru(envelope)
            check(observations)
            measured = [_measured(o) for o in observations]
            ack = _ack(envelope, AckCode.ACCEPT, None, facility, now)
            accepted = _received(envelope, raw, now, ACCEPTED, ack, None)
            try:
                return self._once(
                    ctx, envelope, ack, lambda: self.intake.take(ctx, measured, lambda _: accepted)
                )
            except IntakeRefusal as refused:
                raise _hl7_refusal(refused, observations) from None
        except Hl7Refusal as refusal:
            if isinstance(refusal, HeaderRefusal):
                envelope = refusal.envelope
            ack = _ack(envelope, refusal.ack, refusal, facility, now)
            self.intake.keep(ctx, _received(envelope, raw, now, REFUSED, ack, refusal))
            return ack

    def _orders(
        self, ctx: AccessContext, envelope: Envelope, raw: bytes, now: dt.datetime, facility: str
    ) -> bytes:
        """An order message: its sender must be an order sender (else AR), then its patient and
        orders are resolved and created with its record in one transaction (AE names the field)."""
        assert self.orders is not None
        try:
            sender = self.orders.as_order_sender(ctx)
        except OrderRefusal as refused:
            raise hl7_refusal(refused, None) from None
        message = read_orders(envelope)
        ack = _ack(envelope, AckCode.ACCEPT, None, facility, now)
        accepted = _received(envelope, raw, now, ACCEPTED, ack, None)
        orders = self.orders
        try:
            return self._once(
                ctx,
                envelope,
                ack,
                lambda: orders.place(sender, identity_of(message), requested_of(message), accepted),
            )
        except OrderRefusal as refused:
            raise hl7_refusal(refused, message) from None

    def _once(
        self, ctx: AccessContext, envelope: Envelope, ack: bytes, commit: Callable[[], object]
    ) -> bytes:
        """``ack`` once ``commit`` (the message's effects and its record, one transaction) is done;
        the stored acknowledgement if the same control id was accepted meanwhile (a concurrent
        resend: the record's unique index refused the second)."""
        try:
            commit()
        except IntegrityError:
            stored = self.intake.accepted_ack(ctx, CHANNEL, envelope.control_id)
            if stored is None:
                raise
            return stored
        return ack


def _measured(observation: Observation) -> Measured:
    return Measured(
        barcode=observation.barcode,
        code=observation.code,
        loinc=observation.code_system in LOINC_SYSTEMS,
        value=observation.value,
        unit=observation.unit,
        comment=observation.comment,
        correction=observation.status == CORRECTION,
        patient=tuple(intake.PatientId(p.kind, p.value) for p in observation.patient),
        qc=observation.qc,
    )


def _received(
    envelope: Envelope | None,
    raw: bytes,
    now: dt.datetime,
    state: str,
    ack: bytes,
    refusal: Hl7Refusal | None,
) -> Received:
    return Received(
        channel=CHANNEL,
        control_id=envelope.control_id if envelope else "",
        message_type=f"{envelope.message_type}^{envelope.trigger}" if envelope else "",
        raw=raw,
        at=now,
        state=state,
        ack=ack,
        ack_code=(refusal.ack if refusal else AckCode.ACCEPT).value,
        error_location=str(refusal.where) if refusal and refusal.where else None,
        error_reason=refusal.reason if refusal else None,
    )


def _ack(
    envelope: Envelope | None, code: AckCode, refusal: Hl7Refusal | None, facility: str, now: dt.datetime
) -> bytes:
    return build_ack(envelope, code, refusal, application=APPLICATION, facility=facility, now=now)


_CODES = {
    Kind.UNKNOWN: ErrorCode.UNKNOWN_KEY,
    Kind.NOT_IN_TABLE: ErrorCode.TABLE_VALUE_NOT_FOUND,
    Kind.INVALID: ErrorCode.DATA_TYPE,
}


def _hl7_refusal(refused: IntakeRefusal, observations: Sequence[Observation]) -> Hl7Refusal:
    """The intake's refusal as the segment and field of the observation it is about."""
    if refused.position is None or refused.position >= len(observations):
        return error(ErrorCode.APPLICATION_INTERNAL, None, refused.reason)
    observation = observations[refused.position]
    seq = observation.where.sequence
    where = {
        Part.TUBE: observation.barcode_where,
        Part.TEST: Location("OBX", seq, 3, 1),
        Part.UNIT: Location("OBX", seq, 6, 1),
        Part.VALUE: Location("OBX", seq, 5),
        Part.COMMENT: Location("OBX", seq),
        Part.PATIENT: observation.patient[0].where if observation.patient else Location("PID", 1, 3),
        Part.RESULT: Location("OBX", seq),
    }[refused.part]
    reason = refused.reason
    if refused.part is Part.PATIENT:
        reason = f"not the patient of the specimen of this observation (OBX {seq})"
    return error(_CODES[refused.kind], where, reason)
