"""An interface account's ASTM messages (E1394 / LIS2-A2, one H to L) in, their outcome out.

The same steps as the HL7 inbox, on the channel-neutral intake (interop/intake.py): the sender read
again for every message (a disabled one is refused, with an alert); the message read; a control id
already accepted from this sender answered from the stored outcome, with no second effect; each
reportable result resolved to its order item and entered with the message's sealed record in one
transaction. A refusal is kept as a dead letter naming its place (``R[3]-4``) and reason.

ASTM acknowledges frames, not messages, so the stored ``ack`` is a short text outcome
(``accepted 2 results``, ``refused O[1]-3: ...``) for the lab's record and the import command;
the listener (listener.py) ACKs the message's last frame only once this returns.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from labvault.identity.accounts import Account, context_for
from labvault.interop.astm.errors import RecordError
from labvault.interop.astm.model import AstmMessage
from labvault.interop.astm.query_answer import answer, queried_barcode
from labvault.interop.astm.reading import (
    MessageRefused,
    Reading,
    Readings,
    canonical_text,
    control_id,
    digest,
    parse_place,
    read_results,
)
from labvault.interop.astm.records import parse_message
from labvault.interop.intake import Intake, IntakeRefusal, Part, Received, Sorted, UnknownSender
from labvault.interop.models import ACCEPTED, REFUSED
from labvault.interop.worklist_query import WorklistQuery
from labvault.security.access import AccessContext, Purpose
from labvault.store.base import utcnow

CHANNEL = "astm"
MESSAGE_TYPE = "E1394"
ACCEPT_CODE = "AA"  # the record's ack_code column speaks HL7's codes, for every channel alike
REFUSE_CODE = "AE"
__all__ = ["CHANNEL", "AstmInbox", "AstmOutcome", "UnknownSender"]
_QUERY = re.compile(r"(?:^|[\r\n])Q(?=[^A-Za-z0-9\r\n])")


def is_query(text: str) -> bool:
    """Whether a message holds a request information record (a line starting ``Q|``)."""
    return _QUERY.search(text) is not None


@dataclass(frozen=True)
class AstmOutcome:
    """What became of one message: ``results`` entered, ``qc`` results stored in their lot's
    series, ``skipped`` (QC of no declared lot, statuses not entered), or the place and reason of
    its refusal; ``repeated``: already accepted before."""

    accepted: bool
    control_id: str
    results: int = 0
    skipped: int = 0
    where: str | None = None
    reason: str | None = None
    repeated: bool = False
    previous: bytes = b""
    qc: int = 0

    @property
    def text(self) -> str:
        return self.ack.decode()

    @property
    def ack(self) -> bytes:
        if self.repeated:
            return b"repeated, " + self.previous
        if not self.accepted:
            return f"refused {self.where or 'message'}: {self.reason}".encode()
        qc = f", {self.qc} QC" if self.qc else ""
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"accepted {self.results} results{qc}{skipped}".encode()


class AstmInbox:
    """What the ASTM listener and ``labvault astm-import`` hand each message to; with ``worklist``,
    host queries (Q records) are answered too (:meth:`answer`)."""

    worklist: WorklistQuery | None = None

    def __init__(self, intake: Intake, worklist: WorklistQuery | None = None) -> None:
        self.intake = intake
        self.worklist = worklist

    def answer(self, username: str, text: str, origin: str) -> list[list[str]] | None:
        """The answer messages (each its records, H to L) to a host query message from the
        interface account ``username``, one per Q record; None when ``text`` is no query (results:
        :meth:`receive`), or an unreadable one (:meth:`receive` keeps it as a dead letter). A
        disabled account gets no answer, and an alert."""
        if self.worklist is None or not is_query(text):
            return None
        try:
            parsed = parse_message(text)
        except RecordError:
            return None
        if not parsed.queries or parsed.patients:
            return None  # results with a stray Q: taken as results
        account = self.intake.sender(username)
        if account is None:
            raise UnknownSender(username)
        ctx = context_for(account, Purpose.CARE, origin)
        if not account.active:
            self.intake.alert_refused_sender(ctx, CHANNEL, "disabled")
            return []
        now = utcnow()
        answers: list[list[str]] = []
        for query in parsed.queries:
            barcode = queried_barcode(query)
            work = self.worklist.tube(ctx, barcode, CHANNEL) if barcode is not None else None
            answers.append(answer(parsed.header, work, now))
        return answers

    def sender_of(self, username: str) -> Account | None:
        """The active interface account of that name (a listener starts only for one)."""
        return self.intake.active_sender(username)

    def receive(self, username: str, message: str | Sequence[str] | AstmMessage, origin: str) -> AstmOutcome:
        """The outcome of one H..L message (its text, its record lines, or parsed) from the interface
        account ``username``. Returns once the results are committed, or the refusal kept; anything
        else raised (database down) means nothing was committed."""
        now = utcnow()
        account = self.intake.sender(username)
        if account is None:
            raise UnknownSender(username)
        ctx = context_for(account, Purpose.CARE, origin)
        if not account.active:
            self.intake.alert_refused_sender(ctx, CHANNEL, "disabled")
        text = _text_of(message)
        try:
            parsed = message if isinstance(message, AstmMessage) else parse_message(text or "")
        except RecordError as error:
            raw = text or ""
            refused = AstmOutcome(False, digest(raw), where=parse_place(raw, error), reason=error.reason)
            return self._dead_letter(ctx, refused, raw, now)
        raw = text if text is not None else canonical_text(parsed)
        control = control_id(parsed)
        if not account.active:
            refused = AstmOutcome(False, control, where="H[1]", reason="this interface account is disabled")
            return self._dead_letter(ctx, refused, raw, now)
        stored = self.intake.accepted_ack(ctx, CHANNEL, control)
        if stored is not None:
            return _repeated(control, stored)
        try:
            readings = read_results(parsed)
            return self._enter(ctx, control, readings, raw, now)
        except MessageRefused as refusal:
            refused = AstmOutcome(False, control, where=refusal.where, reason=refusal.reason)
            return self._dead_letter(ctx, refused, raw, now)

    def _enter(
        self, ctx: AccessContext, control: str, readings: Readings, raw: str, now: dt.datetime
    ) -> AstmOutcome:
        measured = [r.measured for r in readings.readings]

        def outcome_of(sort: Sorted) -> AstmOutcome:
            skipped = readings.skipped + sort.unknown_qc
            return AstmOutcome(True, control, len(sort.patient), skipped, qc=len(sort.qc))

        try:
            sort = self.intake.take(ctx, measured, lambda sort: _received(outcome_of(sort), raw, now))
        except IntakeRefusal as refused:
            raise _refusal(refused, readings.readings) from None
        except IntegrityError:  # the same control id accepted meanwhile (a concurrent resend)
            stored = self.intake.accepted_ack(ctx, CHANNEL, control)
            if stored is None:
                raise
            return _repeated(control, stored)
        return outcome_of(sort)

    def _dead_letter(
        self, ctx: AccessContext, outcome: AstmOutcome, raw: str, now: dt.datetime
    ) -> AstmOutcome:
        self.intake.keep(ctx, _received(outcome, raw, now))
        return outcome


def _text_of(message: str | Sequence[str] | AstmMessage) -> str | None:
    if isinstance(message, str):
        return message
    if isinstance(message, AstmMessage):
        return None
    return "\r".join(message) + "\r"


def _repeated(control: str, stored: bytes) -> AstmOutcome:
    """Accepted before: the first outcome, told again."""
    return AstmOutcome(True, control, repeated=True, previous=stored)


def _received(outcome: AstmOutcome, raw: str, now: dt.datetime) -> Received:
    return Received(
        channel=CHANNEL,
        control_id=outcome.control_id,
        message_type=MESSAGE_TYPE,
        raw=raw.encode("utf-8"),
        at=now,
        state=ACCEPTED if outcome.accepted else REFUSED,
        ack=outcome.ack,
        ack_code=ACCEPT_CODE if outcome.accepted else REFUSE_CODE,
        error_location=outcome.where,
        error_reason=outcome.reason,
        results=outcome.results,
    )


def _refusal(refused: IntakeRefusal, readings: Sequence[Reading]) -> MessageRefused:
    """The intake's refusal as the record and field of the result it is about."""
    if refused.position is None or refused.position >= len(readings):
        return MessageRefused(None, refused.reason)
    reading = readings[refused.position]
    where = {
        Part.TUBE: f"{reading.order_at}-3",
        Part.TEST: f"{reading.result_at}-3",
        Part.UNIT: f"{reading.result_at}-5",
        Part.VALUE: f"{reading.result_at}-4",
        Part.COMMENT: f"{reading.comment_at}-4" if reading.comment_at else reading.result_at,
        Part.PATIENT: reading.result_at,
        Part.RESULT: reading.result_at,
    }[refused.part]
    return MessageRefused(where, refused.reason)
