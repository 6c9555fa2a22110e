"""An interface account's HL7 v2 messages in, their acknowledgements out.

Per message, in this order: the sender is read again from the database (a disabled or removed
interface is refused at its very next message, with an alert); the envelope is read; a control id
already accepted from this sender is acknowledged again from the stored acknowledgement, with no
second effect; the ORU^R01 is read and checked; each observation is resolved to its order item (the
tube by its blind index, the test by LOINC through the lab's catalogue or by the lab's own code);
the results are entered through result entry, and the message record (sealed) is written in the
same transaction, with its audit event. The acknowledgement is returned only after that commit.
Any refusal is an AE or AR naming the segment and field, and the message is kept as a dead letter.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from labvault.catalog.service import CatalogService
from labvault.errors import InvalidInput, LabvaultError, NotFound
from labvault.identity import patient_codec
from labvault.identity.account_service import AccountService
from labvault.identity.accounts import Account, context_for
from labvault.identity.models import Patient
from labvault.identity.validation import normalize_nir
from labvault.interop.hl7v2.ack import build_ack
from labvault.interop.hl7v2.envelope import Envelope, parse
from labvault.interop.hl7v2.oru import CORRECTION, Observation, check, read_oru
from labvault.interop.hl7v2.refusal import AckCode, ErrorCode, Hl7Refusal, Location, error
from labvault.interop.models import ACCEPTED, REFUSED, InterfaceMessage
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.database import Database
from labvault.workflow.base import Unit
from labvault.workflow.item_lookup import ItemLookup
from labvault.workflow.loading import load_by_id, patients_of_items
from labvault.workflow.models import Result
from labvault.workflow.result_entry import ResultEntry, ResultEntryService

CHANNEL = "hl7v2"
TABLE = InterfaceMessage.__tablename__
APPLICATION = "LABVAULT"
SENDER_REFUSED = "interface_refused"
CORRECTION_REASON = "correction sent by the interface (OBX-11 C)"
_POSITION = re.compile(r"^(?:pairs|entries)\[(\d+)\]\.?(\w*)")


class Hl7Inbox:
    """What a listener hands each message to (interop/hl7v2/listener.py)."""

    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        catalogs: CatalogService,
        accounts: AccountService,
        items: ItemLookup,
        results: ResultEntryService,
    ) -> None:
        self.gate = Gate(db, keys)
        self.catalogs = catalogs
        self.accounts = accounts
        self.items = items
        self.results = results

    def receive(self, username: str, raw: bytes, origin: str) -> bytes:
        """The acknowledgement of ``raw`` from the interface account ``username``: AA once its
        results are committed, AE/AR (kept as a dead letter) otherwise."""
        now = utcnow()
        account = self._sender(username)
        envelope: Envelope | None = None
        if account is None:
            raise UnknownSender(username)
        ctx = context_for(account, Purpose.CARE, origin)
        facility = str(account.lab_id)
        if not account.active:
            self._alert_refused_sender(ctx, "disabled")
        try:
            envelope = parse(raw)
            if not account.active:
                raise error(
                    ErrorCode.UNKNOWN_KEY, Location("MSH", 1, 3), "this interface account is disabled"
                )
            stored = self._accepted_ack(ctx, envelope.control_id)
            if stored is not None:
                return stored
            observations = read_oru(envelope)
            check(observations)
            entries = self._entries(ctx, observations)
            ack = build_ack(
                envelope, AckCode.ACCEPT, None, application=APPLICATION, facility=facility, now=now
            )

            def record(unit: Unit, created: list[Result]) -> None:
                self._check_patients(unit, observations, entries)
                assert envelope is not None
                self._store(unit, ctx, envelope, raw, ack, now, ACCEPTED, None, len(created))

            try:
                self.results.enter(ctx, entries, within=record)
            except IntegrityError:  # the same control id accepted meanwhile (a concurrent resend)
                stored = self._accepted_ack(ctx, envelope.control_id)
                if stored is None:
                    raise
                return stored
            except InvalidInput as exc:
                raise _refusal_of(exc, observations) from None
            return ack
        except Hl7Refusal as refusal:
            ack = build_ack(
                envelope, refusal.ack, refusal, application=APPLICATION, facility=facility, now=now
            )
            self._dead_letter(ctx, envelope, raw, ack, now, refusal)
            return ack

    # --- the sender ---------------------------------------------------------------------------

    def sender_of(self, username: str) -> Account | None:
        """The active interface account of that name (a listener starts only for one)."""
        account = self._sender(username)
        return account if account is not None and account.active else None

    def _sender(self, username: str) -> Account | None:
        """The interface account, read again for every message."""
        try:
            account = self.accounts.by_username(username)
        except NotFound:
            return None
        if account.role is not Role.INTERFACE or account.lab_id is None:
            return None
        found: Account = account
        return found

    def _alert_refused_sender(self, ctx: AccessContext, why: str) -> None:
        with self.gate.own_chain(ctx) as session:
            raise_alert(
                session, ctx, AlertSpec(SENDER_REFUSED, Severity.HIGH, {"channel": CHANNEL, "why": why})
            )

    # --- what the message asks ----------------------------------------------------------------

    def _entries(self, ctx: AccessContext, observations: Sequence[Observation]) -> list[ResultEntry]:
        """Each observation's order item (resolved, audited, by the item lookup) and value."""
        assert ctx.lab_id is not None
        catalog = self.catalogs.active(ctx.lab_id)
        by_loinc = {test.loinc: test for test in catalog.tests if test.loinc}
        pairs: list[tuple[str, str]] = []
        for observation in observations:
            seq = observation.where.sequence
            if observation.code_system in ("LN", "LOINC"):
                test = by_loinc.get(observation.code)
                if test is None:
                    raise error(
                        ErrorCode.TABLE_VALUE_NOT_FOUND,
                        Location("OBX", seq, 3, 1),
                        f"no test with this LOINC code in catalogue {catalog.version}",
                    )
            else:
                found = catalog.get(observation.code.strip().upper())
                if found is None:
                    raise error(
                        ErrorCode.TABLE_VALUE_NOT_FOUND,
                        Location("OBX", seq, 3, 1),
                        f"unknown test code in catalogue {catalog.version}",
                    )
                test = found
            if observation.unit and test.unit and observation.unit.lower() != test.unit.lower():
                raise error(
                    ErrorCode.TABLE_VALUE_NOT_FOUND,
                    Location("OBX", seq, 6, 1),
                    f"unit must be {test.unit} for test {test.code}",
                )
            pairs.append((observation.barcode, test.code))
        try:
            item_ids = self.items.resolve_items(ctx, pairs)
        except InvalidInput as exc:
            raise _refusal_of(exc, observations) from None
        return [
            ResultEntry(
                item_id=item_id,
                value=observation.value,
                comment=observation.comment,
                correction_reason=CORRECTION_REASON if observation.status == CORRECTION else None,
            )
            for item_id, observation in zip(item_ids, observations, strict=True)
        ]

    def _check_patients(
        self, unit: Unit, observations: Sequence[Observation], entries: Sequence[ResultEntry]
    ) -> None:
        """PID-3's identifiers, where labvault knows their kind, must be the tube's patient's:
        a result is never entered for the wrong patient (identity vigilance)."""
        if not any(o.patient for o in observations):
            return
        patients = patients_of_items(unit, [e.item_id for e in entries])
        rows = load_by_id(unit, Patient, list(set(patients.values())))
        nirs: dict[uuid.UUID, str | None] = {}
        for observation, entry in zip(observations, entries, strict=True):
            patient_id = patients.get(entry.item_id)
            for given in observation.patient:
                if given.kind == "lab":
                    same = given.value.lower() == str(patient_id)
                else:
                    row = rows.get(patient_id) if patient_id else None
                    if patient_id is not None and patient_id not in nirs:
                        nirs[patient_id] = (
                            None if row is None else patient_codec.decode(unit.keys, row).data.nir
                        )
                    same = patient_id is not None and _same_nir(given.value, nirs.get(patient_id))
                if not same:
                    raise error(
                        ErrorCode.UNKNOWN_KEY,
                        given.where,
                        "not the patient of the specimen of this observation "
                        f"(OBX {observation.where.sequence})",
                    )

    # --- the record ---------------------------------------------------------------------------

    def _accepted_ack(self, ctx: AccessContext, control_id: str) -> bytes | None:
        """The acknowledgement already sent for this control id from this sender, if accepted;
        its repetition is audited."""
        with self.gate.lab_rows(ctx, Permission.RESULT_ENTER) as unit:
            ack = unit.session.scalar(
                select(InterfaceMessage.ack).where(
                    InterfaceMessage.sender_id == ctx.actor_id,
                    InterfaceMessage.control_id == control_id,
                    InterfaceMessage.state == ACCEPTED,
                )
            )
            if ack is not None:
                audit.append(
                    unit.session,
                    ctx,
                    AuditRecord(
                        "interface.repeat",
                        "interface_message",
                        None,
                        {"channel": CHANNEL, "control_id": control_id},
                    ),
                )
            return ack

    def _store(
        self,
        unit: Unit,
        ctx: AccessContext,
        envelope: Envelope | None,
        raw: bytes,
        ack: bytes,
        now: dt.datetime,
        state: str,
        refusal: Hl7Refusal | None,
        results: int,
    ) -> None:
        assert ctx.actor_id is not None
        row_id = uuid.uuid4()
        message_type = f"{envelope.message_type}^{envelope.trigger}" if envelope else ""
        control_id = envelope.control_id if envelope else ""
        unit.session.add(
            InterfaceMessage(
                id=row_id,
                lab_id=unit.lab_id,
                sender_id=ctx.actor_id,
                channel=CHANNEL,
                control_id=control_id,
                message_type=message_type[:32],
                received_at=now,
                state=state,
                ack_code=(refusal.ack if refusal else AckCode.ACCEPT).value,
                error_location=str(refusal.where)[:64] if refusal and refusal.where else None,
                error_reason=refusal.reason[:300] if refusal else None,
                results=results,
                ack=ack,
                message_enc=unit.keys.cipher.encrypt_bytes(TABLE, "message", row_id, raw),
            )
        )
        unit.session.flush()  # the unique control id, now: a resend is told apart from a failure
        detail = {"channel": CHANNEL, "control_id": control_id, "type": message_type, "results": results}
        if refusal is not None:
            detail |= {"ack": refusal.ack.value, "where": str(refusal.where or "")}
        audit.append(
            unit.session,
            ctx,
            AuditRecord(
                "interface.accept" if state == ACCEPTED else "interface.refuse",
                "interface_message",
                str(row_id),
                detail,
            ),
        )

    def _dead_letter(
        self,
        ctx: AccessContext,
        envelope: Envelope | None,
        raw: bytes,
        ack: bytes,
        now: dt.datetime,
        refusal: Hl7Refusal,
    ) -> None:
        with self.gate.lab(ctx, Permission.RESULT_ENTER) as lab:
            unit = Unit(lab.session, lab.keys, self.catalogs.active_in(lab.session, lab.lab_id), lab.lab_id)
            self._store(unit, ctx, envelope, raw, ack, now, REFUSED, refusal, 0)


class UnknownSender(LabvaultError):
    """No interface account of that name: the listener cannot serve it."""

    def __init__(self, username: str) -> None:
        super().__init__(f"no active interface account {username!r}")


def _same_nir(given: str, stored: str | None) -> bool:
    if stored is None:
        return False
    try:
        return normalize_nir(given) == normalize_nir(stored)
    except InvalidInput:
        return False


def _refusal_of(exc: InvalidInput, observations: Sequence[Observation]) -> Hl7Refusal:
    """Result entry's refusal (``pairs[2].barcode``, ``entries[0].value``) as the field of the
    observation it came from."""
    match = _POSITION.match(exc.field)
    if match is None or int(match.group(1)) >= len(observations):
        return error(ErrorCode.APPLICATION_INTERNAL, None, exc.reason)
    observation = observations[int(match.group(1))]
    seq, part = observation.where.sequence, match.group(2)
    if part == "barcode":
        where = observation.barcode_where
    elif part == "test_code":
        where = Location("OBX", seq, 3, 1)
    elif part == "value":
        where = Location("OBX", seq, 5)
    elif part == "comment":
        where = Location("NTE", 1, 3)
    else:
        where = Location("OBX", seq)
    code = ErrorCode.UNKNOWN_KEY if part in ("barcode", "test_code", "item_id") else ErrorCode.DATA_TYPE
    return error(code, where, exc.reason)
