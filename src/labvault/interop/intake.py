"""What every channel that brings results does the same way (HL7 v2, ASTM): the interface account
read again for each message, each measured result resolved to its order item (the tube by its
blind index, the test by LOINC through the lab's catalogue, else by the instrument's own code
mapped for this interface (interop/instrument_codes.py), else the lab's own code; its unit
checked), the results entered through result entry with the message's record written in the same
transaction, a control id accepted once per sender, and refused messages kept as dead letters
(:meth:`Intake.keep`).

Analyzer QC (qc/): a result the channel marks as QC, or whose specimen id is a control lot
declared for this instrument, is a QC result (:func:`sort_results`): stored in the QC series of its
lot, with the Westgard rules evaluated, in the same transaction as the message's record
(:meth:`Intake.take`), never among patient results. A QC result of no declared lot for its test is
not stored (counted as skipped).

A channel turns its message into :class:`Measured` results and its own refusals; a refusal from
here is an :class:`IntakeRefusal` naming which result (its position) and which part of it, which
the channel translates into its own terms (HL7: the segment and field of the ERR segment).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from labvault.catalog.model import Catalog, TestDefinition
from labvault.catalog.service import CatalogService
from labvault.errors import InvalidInput, LabvaultError, NotFound
from labvault.identity import patient_codec
from labvault.identity.account_service import AccountService
from labvault.identity.accounts import Account
from labvault.identity.models import Patient
from labvault.identity.validation import normalize_nir
from labvault.interop.instrument_codes import instrument_codes
from labvault.interop.models import InterfaceMessage
from labvault.keys.store import KeyStore
from labvault.qc import recording
from labvault.qc.models import QcLot
from labvault.qc.westgard import NotAQcValue, decimal_of
from labvault.security import audit, policy
from labvault.security.access import AccessContext, Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.database import Database
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.base import Unit
from labvault.workflow.item_lookup import ItemLookup
from labvault.workflow.loading import load_by_id, patients_of_items
from labvault.workflow.models import Result
from labvault.workflow.result_entry import ResultEntry, ResultEntryService

MESSAGES = SealedColumns(InterfaceMessage, "message")  # the raw message, sealed in its column
SENDER_REFUSED = "interface_refused"
CORRECTION_REASON = "correction sent by the interface"
_POSITION = re.compile(r"^(?:pairs|entries)\[(\d+)\]\.?(\w*)")


class Part(StrEnum):
    """Which part of a measured result a refusal is about."""

    TUBE = "tube"
    TEST = "test"
    UNIT = "unit"
    VALUE = "value"
    COMMENT = "comment"
    PATIENT = "patient"
    RESULT = "result"


class Kind(StrEnum):
    UNKNOWN = "unknown"  # no such tube, test or patient here (HL7: 204 unknown key, or 103 table value)
    NOT_IN_TABLE = "not_in_table"  # a code the lab's catalogue does not hold (HL7: 103)
    INVALID = "invalid"  # a value result entry refuses (HL7: 102 data type)


class IntakeRefusal(LabvaultError):
    """Result ``position`` of the message refused, about ``part``; ``reason`` never holds a value."""

    def __init__(self, position: int | None, part: Part, kind: Kind, reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.part = part
        self.kind = kind
        self.reason = reason

    def among(self, positions: Sequence[int]) -> IntakeRefusal:
        """The same refusal, its position (in a subset of the message's results) given back as
        the message's own."""
        if self.position is None or self.position >= len(positions):
            return self
        return IntakeRefusal(positions[self.position], self.part, self.kind, self.reason)


@dataclass(frozen=True)
class PatientId:
    """An identifier a message gives for the patient, of a kind labvault checks: ``nir`` (the
    INS's NIR or NIA) or ``lab`` (labvault's own patient id)."""

    kind: str
    value: str


@dataclass(frozen=True)
class Measured:
    """One result as a channel brings it."""

    barcode: str
    code: str
    loinc: bool  # the code is LOINC (else the lab's own test code)
    value: str
    unit: str = ""
    comment: str | None = None
    correction: bool = False
    patient: tuple[PatientId, ...] = ()
    qc: bool = False  # the channel marks it as a quality-control result (ASTM O-12 Q, HL7 SPM-11 Q)


@dataclass(frozen=True)
class QcReading:
    """A QC result of a message: its position, its lot, its value."""

    position: int
    lot_id: uuid.UUID
    value: str


@dataclass(frozen=True)
class Sorted:
    """A message's results sorted: the positions of the patient results, the QC results of a
    declared lot, and the number of QC results of no declared lot (not stored)."""

    patient: tuple[int, ...]
    qc: tuple[QcReading, ...] = ()
    unknown_qc: int = 0


@dataclass(frozen=True)
class Received:
    """What the message record keeps: the channel, its control id and type, the outcome."""

    channel: str
    control_id: str
    message_type: str
    raw: bytes
    at: dt.datetime
    state: str
    ack: bytes
    ack_code: str
    error_location: str | None = None
    error_reason: str | None = None
    results: int = 0


class UnknownSender(LabvaultError):
    """No interface account of that name: a listener cannot serve it."""

    def __init__(self, username: str) -> None:
        super().__init__(f"no active interface account {username!r}")


class Intake:
    """The channel-neutral half of every inbound channel."""

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

    # --- the sender ---------------------------------------------------------------------------

    def sender(self, username: str) -> Account | None:
        """The interface account of that name, active or not, read again for every message."""
        try:
            account = self.accounts.by_username(username)
        except NotFound:
            return None
        if account.role is not Role.INTERFACE or account.lab_id is None:
            return None
        found: Account = account
        return found

    def active_sender(self, username: str) -> Account | None:
        """The active interface account of that name (a listener starts only for one)."""
        account = self.sender(username)
        return account if account is not None and account.active else None

    def alert_refused_sender(self, ctx: AccessContext, channel: str, why: str) -> None:
        with self.gate.own_chain(ctx) as session:
            raise_alert(
                session, ctx, AlertSpec(SENDER_REFUSED, Severity.HIGH, {"channel": channel, "why": why})
            )

    # --- results ------------------------------------------------------------------------------

    def _codes(self, ctx: AccessContext) -> _Codes:
        """What resolves a message's tests and control lots: the lab's catalogue, the instrument's
        own codes and its declared lots (read in one transaction, before any write)."""
        assert ctx.lab_id is not None
        with self.gate.lab_rows(ctx, Permission.RESULT_ENTER) as lab:
            catalog = self.catalogs.active_in(lab.session, lab.lab_id)
            own = instrument_codes(lab.session, ctx.actor_id) if ctx.actor_id else {}
            lots = (
                {key: lot.id for key, lot in recording.lots_of(lab.session, ctx.actor_id).items()}
                if ctx.actor_id
                else {}
            )
        by_loinc = {test.loinc: test for test in catalog.tests if test.loinc}
        return _Codes(catalog, by_loinc, own, lots)

    def _entries(self, ctx: AccessContext, codes: _Codes, measured: Sequence[Measured]) -> list[ResultEntry]:
        """Each result's order item (resolved and audited by the item lookup) and value."""
        pairs: list[tuple[str, str]] = []
        for position, result in enumerate(measured):
            found = _test_of(codes, position, result)
            pairs.append((result.barcode, found.code))
        try:
            item_ids = self.items.resolve_items(ctx, pairs)
        except InvalidInput as exc:
            raise refusal_of(exc) from None
        return [
            ResultEntry(
                item_id=item_id,
                value=result.value,
                comment=result.comment,
                correction_reason=CORRECTION_REASON if result.correction else None,
            )
            for item_id, result in zip(item_ids, measured, strict=True)
        ]

    # --- QC and patient results sorted --------------------------------------------------------

    def take(
        self, ctx: AccessContext, measured: Sequence[Measured], received: Callable[[Sorted], Received]
    ) -> Sorted:
        """Sort the message's results (:func:`sort_results`), then enter the patient results and
        store the QC results, with the message's record (``received``, given the sort: its outcome
        may count them), in one transaction (:meth:`enter`, or :meth:`keep` when no patient result
        is in it). A refusal names the result's position in ``measured``."""
        codes = self._codes(ctx)
        sort = sort_results(codes, measured)
        if sort.qc:
            policy.require_lab(ctx, Permission.QC_ENTER)
        record = received(sort)
        patient = [measured[p] for p in sort.patient]
        try:
            if patient:
                entries = self._entries(ctx, codes, patient)
                self.enter(ctx, patient, entries, record, qc=sort.qc)
            else:
                self.keep(ctx, record, qc=sort.qc)
        except IntakeRefusal as refused:
            raise refused.among(sort.patient) from None
        return sort

    def _store_qc(self, unit: Unit, ctx: AccessContext, qc: Sequence[QcReading], received: Received) -> None:
        for reading in qc:
            lot = unit.session.get(QcLot, reading.lot_id)
            if lot is None:  # removed since the message was sorted
                raise IntakeRefusal(
                    None, Part.TEST, Kind.UNKNOWN, "a control lot of this message was removed"
                )
            recording.record(
                unit.session,
                ctx,
                lot,
                reading.value,
                at=received.at,
                source=received.channel,
                control_id=received.control_id,
            )

    def enter(
        self,
        ctx: AccessContext,
        measured: Sequence[Measured],
        entries: Sequence[ResultEntry],
        received: Received,
        *,
        qc: Sequence[QcReading] = (),
    ) -> None:
        """Enter the results (each one's audit event naming the channel and the message's control
        id), then check the patients the message names and write its record, all in one
        transaction. A control id accepted meanwhile is an ``IntegrityError`` (the caller answers
        the stored ACK)."""

        def within(unit: Unit, created: list[Result]) -> None:
            self._check_patients(unit, measured, entries)
            self._store_qc(unit, ctx, qc, received)
            self.store(unit, ctx, received, results=len(created))

        source = {"channel": received.channel, "message": received.control_id}
        try:
            self.results.enter(ctx, entries, within=within, source=source)
        except InvalidInput as exc:
            raise refusal_of(exc) from None

    def _check_patients(
        self, unit: Unit, measured: Sequence[Measured], entries: Sequence[ResultEntry]
    ) -> None:
        """The identifiers a message gives, where labvault knows their kind, must be the tube's
        patient's: a result is never entered for the wrong patient (identity vigilance)."""
        if not any(m.patient for m in measured):
            return
        patients = patients_of_items(unit, [e.item_id for e in entries])
        rows = load_by_id(unit, Patient, list(set(patients.values())))
        nirs: dict[uuid.UUID, str | None] = {}
        for position, (result, entry) in enumerate(zip(measured, entries, strict=True)):
            patient_id = patients.get(entry.item_id)
            for given in result.patient:
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
                    raise IntakeRefusal(
                        position, Part.PATIENT, Kind.UNKNOWN, "not the patient of the specimen of this result"
                    )

    # --- the record ---------------------------------------------------------------------------

    def accepted_ack(self, ctx: AccessContext, channel: str, control_id: str) -> bytes | None:
        """The acknowledgement already sent for this control id from this sender, if accepted;
        its repetition is audited."""
        with self.gate.lab_rows(ctx, Permission.RESULT_ENTER) as unit:
            ack = unit.session.scalar(
                select(InterfaceMessage.ack).where(
                    InterfaceMessage.sender_id == ctx.actor_id,
                    InterfaceMessage.channel == channel,
                    InterfaceMessage.control_id == control_id,
                    InterfaceMessage.state == "accepted",
                )
            )
            if ack is not None:
                detail = {"channel": channel, "control_id": control_id}
                audit.append(
                    unit.session, ctx, AuditRecord("interface.repeat", "interface_message", None, detail)
                )
            return ack

    def store(self, unit: Unit, ctx: AccessContext, received: Received, *, results: int = 0) -> None:
        """The message's record, sealed, and its audit event, in ``unit``'s transaction."""
        assert ctx.actor_id is not None
        row_id = uuid.uuid4()
        unit.session.add(
            InterfaceMessage(
                id=row_id,
                lab_id=unit.lab_id,
                sender_id=ctx.actor_id,
                channel=received.channel,
                control_id=received.control_id,
                message_type=received.message_type[:32],
                received_at=received.at,
                state=received.state,
                ack_code=received.ack_code,
                error_location=received.error_location[:64] if received.error_location else None,
                error_reason=received.error_reason[:300] if received.error_reason else None,
                results=results,
                ack=received.ack,
                message_enc=MESSAGES.seal_bytes(unit.keys.cipher, "message", row_id, received.raw),
            )
        )
        unit.session.flush()  # the unique control id, now: a resend is told apart from a failure
        detail: dict[str, object] = {
            "channel": received.channel,
            "control_id": received.control_id,
            "type": received.message_type,
            "results": results,
            "ack": received.ack_code,
        }
        if received.error_location:
            detail["where"] = received.error_location
        action = "interface.accept" if received.state == "accepted" else "interface.refuse"
        audit.append(unit.session, ctx, AuditRecord(action, "interface_message", str(row_id), detail))

    def keep(self, ctx: AccessContext, received: Received, *, qc: Sequence[QcReading] = ()) -> None:
        """A message's record in a transaction of its own: a refused one (a dead letter, with the
        reason it was refused), or an accepted one that had no patient result to enter (its QC
        results, if any, stored with it)."""
        with self.gate.lab(ctx, Permission.RESULT_ENTER) as lab:
            unit = Unit(lab.session, lab.keys, self.catalogs.active_in(lab.session, lab.lab_id), lab.lab_id)
            self._store_qc(unit, ctx, qc, received)
            self.store(unit, ctx, received)


@dataclass(frozen=True)
class _Codes:
    catalog: Catalog
    by_loinc: dict[str, TestDefinition]
    own: dict[str, str]  # the instrument's codes (upper case) -> catalogue codes
    lots: dict[tuple[str, str], uuid.UUID]  # (test code, lot id) -> the instrument's control lot


def sort_results(codes: _Codes, measured: Sequence[Measured]) -> Sorted:
    """Which results are QC: marked so by the channel, or whose specimen id is a control lot
    declared for this instrument (qc/models.py ``QcLot.lot``); each resolved to its lot (its test
    as for a patient result). A QC value that is not a number refuses the message."""
    ids = {lot for _test, lot in codes.lots}
    candidates = [p for p, m in enumerate(measured) if m.qc or m.barcode.strip().upper() in ids]
    if not candidates:
        return Sorted(tuple(range(len(measured))))
    qc: list[QcReading] = []
    unknown = 0
    for position in candidates:
        result = measured[position]
        test = _test_of(codes, position, result)
        lot_id = codes.lots.get((test.code, result.barcode.strip().upper()))
        if lot_id is None:
            unknown += 1
            continue
        try:
            decimal_of(result.value)
        except NotAQcValue as exc:
            raise IntakeRefusal(position, Part.VALUE, Kind.INVALID, f"QC {exc}") from None
        qc.append(QcReading(position, lot_id, result.value))
    chosen = set(candidates)
    return Sorted(tuple(p for p in range(len(measured)) if p not in chosen), tuple(qc), unknown)


def _test_of(codes: _Codes, position: int, result: Measured) -> TestDefinition:
    """The catalogue test a result names (LOINC, the instrument's own code, the lab's code), its
    unit checked."""
    code = result.code.strip().upper()
    catalog = codes.catalog
    found = codes.by_loinc.get(result.code) if result.loinc else catalog.get(codes.own.get(code, code))
    if found is None:
        what = "no test with this LOINC code" if result.loinc else "unknown test code"
        raise IntakeRefusal(position, Part.TEST, Kind.NOT_IN_TABLE, f"{what} in catalogue {catalog.version}")
    if result.unit and found.unit and result.unit.lower() != found.unit.lower():
        raise IntakeRefusal(
            position, Part.UNIT, Kind.NOT_IN_TABLE, f"unit must be {found.unit} for test {found.code}"
        )
    return found


def _same_nir(given: str, stored: str | None) -> bool:
    if stored is None:
        return False
    try:
        return normalize_nir(given) == normalize_nir(stored)
    except InvalidInput:
        return False


def refusal_of(exc: InvalidInput) -> IntakeRefusal:
    """Result entry's refusal (``pairs[2].barcode``, ``entries[0].value``) as the part of the
    measured result it came from."""
    match = _POSITION.match(exc.field)
    if match is None:
        return IntakeRefusal(None, Part.RESULT, Kind.INVALID, exc.reason)
    part = {
        "barcode": Part.TUBE,
        "test_code": Part.TEST,
        "item_id": Part.TEST,
        "value": Part.VALUE,
        "comment": Part.COMMENT,
    }.get(match.group(2), Part.RESULT)
    kind = Kind.UNKNOWN if part in (Part.TUBE, Part.TEST) else Kind.INVALID
    return IntakeRefusal(int(match.group(1)), part, kind, exc.reason)
