"""What every channel that brings orders does the same way (HL7 v2 OML^O21 and ORM^O01 today, a
FHIR transaction Bundle later): the sender must be an interface a lab admin marked an order
sender; the patient is found by labvault's own id or by the INS (the lab's blind index, confirmed
on the decrypted value) and must carry the birth date, names and sex the message gives (identity
vigilance: a mismatch is refused, never applied); a patient no one matched is created as a
**pending identity** reception confirms or merges (workflow/pending_identities.py), never as a checked one;
the prescriber must be a physician of the lab, by RPPS; each test is found in the lab's catalogue
by LOINC, NABM act or the lab's own code; then the orders, their placer order numbers and the
message's sealed record are written in one transaction (workflow/orders.py ``create_within``).

Resolution order, so that a message with several faults is refused for the same one every time:
the tests, then the prescriber, then the patient, then the placer numbers. A channel turns its
message into :class:`Identity` and :class:`Requested` orders; a refusal from here is an
:class:`OrderRefusal` naming which order (its position), which test, and which part, which the
channel translates into its own terms (HL7: the segment and field of ERR-2).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from labvault.catalog.model import Catalog
from labvault.errors import InvalidInput, LabvaultError
from labvault.identity import patient_codec
from labvault.identity.interface_accounts import interface_of_lab
from labvault.identity.models import Patient, Physician
from labvault.identity.patient_data import PatientData, validate_patient
from labvault.identity.physician_service import physician_by_rpps
from labvault.identity.validation import normalize_name_for_index, normalize_nir, validate_rpps
from labvault.interop.instrument_codes import instrument_codes
from labvault.interop.intake import Intake, Received
from labvault.interop.order_models import OrderSender, PlacerOrder
from labvault.keys.store import KeyStore
from labvault.security import audit, policy
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.database import Database
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.base import Unit
from labvault.workflow.order_data import OrderRecord, OrderRequest
from labvault.workflow.orders import OrderService

PLACERS = SealedColumns(PlacerOrder, "placer")  # the sender's order number, sealed in its column
PLACER_INDEX = "placer_orders.placer"
PENDING_STATUS = "provisoire"  # an identity nobody here checked yet (INS referential status)
LOINC, NABM, LOCAL = "loinc", "nabm", "local"


class OrderPart(StrEnum):
    """Which part of an order message a refusal is about."""

    SENDER = "sender"
    PATIENT = "patient"  # the identifiers (HL7 PID-3)
    NAME = "name"
    BIRTH_DATE = "birth_date"
    SEX = "sex"
    PRESCRIBER = "prescriber"
    TEST = "test"
    PLACER = "placer"
    CLINICAL = "clinical"
    ORDER = "order"


class OrderKind(StrEnum):
    UNKNOWN = "unknown"  # no such patient or prescriber here (HL7 204)
    NOT_IN_TABLE = "not_in_table"  # a test code the catalogue does not hold (HL7 103)
    INVALID = "invalid"  # a value of the wrong form (HL7 102)
    MISMATCH = "mismatch"  # a trait that is not the matched patient's (HL7 204)
    DUPLICATE = "duplicate"  # a placer order number already received (HL7 205)
    NOT_ALLOWED = "not_allowed"  # the sender may not send orders (HL7 AR 200)


class OrderRefusal(LabvaultError):
    """Order ``order`` (its test ``test``) refused, about ``part``; ``reason`` never holds a value."""

    def __init__(
        self,
        part: OrderPart,
        kind: OrderKind,
        reason: str,
        *,
        order: int | None = None,
        test: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.part = part
        self.kind = kind
        self.reason = reason
        self.order = order
        self.test = test


@dataclass(frozen=True)
class Identity:
    """The patient as the message gives them."""

    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: str
    used_name: str | None = None
    ins: str | None = None
    ins_oid: str | None = None
    patient_id: str | None = None  # labvault's own id, when the sender holds it


@dataclass(frozen=True)
class TestCode:
    code: str
    system: str  # LOINC, NABM or LOCAL (the lab's own code, or the sender's mapped one)


@dataclass(frozen=True)
class Requested:
    """One order as a channel brings it."""

    placers: tuple[str, ...]
    tests: tuple[tuple[TestCode, ...], ...]  # each test: its codes, the first one found wins
    prescriber_rpps: str | None = None
    urgent: bool = False
    clinical_info: str | None = None


@dataclass(frozen=True)
class Placed:
    patient_id: uuid.UUID
    pending: bool  # the patient is a pending identity (created now, or earlier)
    created_patient: bool
    orders: tuple[OrderRecord, ...]


class OrderIntake:
    """The channel-neutral half of every order channel."""

    def __init__(self, db: Database, keys: KeyStore, intake: Intake, orders: OrderService) -> None:
        self.gate = Gate(db, keys)
        self.intake = intake
        self.orders = orders

    # --- order senders ------------------------------------------------------------------------

    def as_order_sender(self, ctx: AccessContext) -> AccessContext:
        """``ctx`` of an interface a lab admin marked an order sender (read for every message, so
        an unmarked one is refused at its very next message); refused otherwise."""
        with self.gate.lab_rows(ctx, Permission.RESULT_ENTER) as lab:
            marked = lab.session.scalar(select(OrderSender.id).where(OrderSender.account_id == ctx.actor_id))
        if marked is None:
            raise OrderRefusal(
                OrderPart.SENDER,
                OrderKind.NOT_ALLOWED,
                "this interface account does not send orders: a lab admin marks it an order sender",
            )
        return dataclasses.replace(ctx, order_sender=True)

    def mark_sender(self, ctx: AccessContext, interface: str, *, sends: bool = True) -> bool:
        """A lab admin allows (``sends``) or stops the interface account ``interface`` sending
        orders; audited. Whether anything changed."""
        with self.gate.lab_rows(ctx, Permission.INTERFACES_MANAGE) as lab:
            account_id = interface_of_lab(lab.session, lab.lab_id, interface).id
            row = lab.session.scalar(select(OrderSender).where(OrderSender.account_id == account_id))
            if (row is not None) == sends:
                return False
            if sends:
                lab.session.add(
                    OrderSender(
                        id=uuid.uuid4(),
                        lab_id=lab.lab_id,
                        account_id=account_id,
                        marked_by=ctx.actor_id,
                        marked_at=utcnow(),
                    )
                )
            else:
                lab.session.delete(row)
            action = "interface.order_sender_add" if sends else "interface.order_sender_remove"
            audit.append(lab.session, ctx, AuditRecord(action, "user", str(account_id)))
            return True

    # --- orders in ----------------------------------------------------------------------------

    def place(
        self, ctx: AccessContext, identity: Identity, requested: Sequence[Requested], received: Received
    ) -> Placed:
        """Resolve and create the orders with the message's record in one transaction. ``ctx``:
        from :meth:`as_order_sender`. A control id accepted meanwhile is an ``IntegrityError``."""
        found: dict[str, object] = {}
        source = {"channel": received.channel, "message": received.control_id}

        def prepare(unit: Unit) -> list[OrderRequest]:
            # The lab's chain lock first (orders take it anyway): two messages naming the same
            # unknown INS, or the same placer number, are resolved one after the other, so the
            # second finds what the first created instead of creating it again.
            audit.lock_chain(unit.session, ctx)
            own = instrument_codes(unit.session, ctx.actor_id) if ctx.actor_id else {}
            resolved = [
                _tests(unit.catalog, own, position, order) for position, order in enumerate(requested)
            ]
            prescribers = [_prescriber(unit, position, order) for position, order in enumerate(requested)]
            patient_id, pending, created = self._patient(unit, ctx, identity, source)
            found.update(patient=patient_id, pending=pending, created=created)
            self._check_placers(unit, ctx, requested)
            return [
                OrderRequest(
                    patient_id=patient_id,
                    tests=tests,
                    panels=panels,
                    prescriber_id=prescriber,
                    urgent=order.urgent,
                    clinical_info=order.clinical_info,
                )
                for order, (tests, panels), prescriber in zip(requested, resolved, prescribers, strict=True)
            ]

        def within(unit: Unit, created: list[OrderRecord]) -> None:
            now = utcnow()
            for order, record in zip(requested, created, strict=True):
                for placer in order.placers:
                    row_id = uuid.uuid4()
                    unit.session.add(
                        PlacerOrder(
                            id=row_id,
                            lab_id=unit.lab_id,
                            order_id=record.id,
                            sender_id=ctx.actor_id,
                            placer_bidx=_placer_index(unit, placer),
                            placer_enc=PLACERS.seal(unit.keys.cipher, "placer", row_id, placer),
                            received_at=now,
                        )
                    )
            self.intake.store(unit, ctx, received)

        try:
            records = self.orders.create_within(ctx, prepare, within)
        except InvalidInput as exc:
            raise _refusal_of(exc) from None
        return Placed(
            patient_id=found["patient"],  # type: ignore[arg-type]
            pending=bool(found["pending"]),
            created_patient=bool(found["created"]),
            orders=tuple(records),
        )

    def _patient(
        self, unit: Unit, ctx: AccessContext, identity: Identity, source: dict[str, str]
    ) -> tuple[uuid.UUID, bool, bool]:
        """The patient the message names (id, pending, created now)."""
        ins = None
        if identity.ins:
            try:
                ins = normalize_nir(identity.ins, field="ins")
            except InvalidInput:
                raise OrderRefusal(
                    OrderPart.PATIENT, OrderKind.INVALID, "not a valid INS (its key is wrong)"
                ) from None
        row: Patient | None = None
        by = "id"
        if identity.patient_id:
            try:
                row = unit.session.get(Patient, uuid.UUID(identity.patient_id))
            except ValueError:
                row = None
            if row is None:
                raise OrderRefusal(OrderPart.PATIENT, OrderKind.UNKNOWN, "no such patient in this laboratory")
        elif ins is not None:
            by = "ins"
            index = patient_codec.ins_index(unit.keys, ins)
            for candidate in unit.session.scalars(select(Patient).where(Patient.ins_bidx == index)):
                if patient_codec.decode(unit.keys, candidate).data.ins == ins:
                    row = candidate
                    break
        if row is None:
            return self._pending(unit, ctx, identity, ins, source), True, False
        data = patient_codec.decode(unit.keys, row).data
        if ins is not None and data.ins is not None and data.ins != ins:
            raise OrderRefusal(
                OrderPart.PATIENT, OrderKind.MISMATCH, "the INS is not the one registered for this patient"
            )
        _check_traits(identity, data)
        audit.append(
            unit.session,
            ctx,
            AuditRecord("patient.match", "patient", str(row.id), {"by": by, **source}, patient_id=row.id),
        )
        return row.id, bool(row.identity_pending), False

    def _pending(
        self, unit: Unit, ctx: AccessContext, identity: Identity, ins: str | None, source: dict[str, str]
    ) -> uuid.UUID:
        """A new patient, pending until reception confirms it (workflow/pending_identities.py)."""
        policy.enforce(ctx, Permission.PATIENT_WRITE)
        given = PatientData(
            birth_name=identity.birth_name,
            first_names=identity.first_names,
            sex=identity.sex,
            birth_date=identity.birth_date,
            used_name=identity.used_name,
            ins=ins,
            ins_oid=identity.ins_oid if ins else None,
            ins_status=PENDING_STATUS,
        )
        try:
            data = validate_patient(given, utcnow().date())
        except InvalidInput as exc:
            raise OrderRefusal(
                _IDENTITY_PARTS.get(exc.field, OrderPart.PATIENT), OrderKind.INVALID, exc.reason
            ) from None
        row_id = uuid.uuid4()
        now = utcnow()
        row = Patient(id=row_id, lab_id=unit.lab_id, created_at=now, updated_at=now, revision=1)
        for column, value in patient_codec.encrypted_columns(unit.keys, row_id, data).items():
            setattr(row, column, value)
        row.identity_pending = True
        unit.session.add(row)
        unit.session.flush()
        audit.append(
            unit.session,
            ctx,
            AuditRecord(
                "patient.create", "patient", str(row_id), {"pending": True, **source}, patient_id=row_id
            ),
        )
        return row_id

    def _check_placers(self, unit: Unit, ctx: AccessContext, requested: Sequence[Requested]) -> None:
        """A placer order number is one order per sender: a second message carrying it (not a
        resend: that is the same control id) is refused, never a second order."""
        seen: set[bytes] = set()
        for position, order in enumerate(requested):
            for placer in order.placers:
                index = _placer_index(unit, placer)
                taken = unit.session.scalar(
                    select(PlacerOrder.id).where(
                        PlacerOrder.sender_id == ctx.actor_id, PlacerOrder.placer_bidx == index
                    )
                )
                if taken is not None or index in seen:
                    raise OrderRefusal(
                        OrderPart.PLACER,
                        OrderKind.DUPLICATE,
                        "this placer order number was already received from this sender",
                        order=position,
                    )
                seen.add(index)


_IDENTITY_PARTS = {
    "birth_name": OrderPart.NAME,
    "first_names": OrderPart.NAME,
    "used_name": OrderPart.NAME,
    "birth_date": OrderPart.BIRTH_DATE,
    "sex": OrderPart.SEX,
}


def _placer_index(unit: Unit, placer: str) -> bytes:
    return unit.keys.indexer.index(PLACER_INDEX, placer.strip())


def _check_traits(identity: Identity, data: PatientData) -> None:
    """The message's birth date, name and sex must be the matched patient's (identity vigilance):
    a difference is a refusal for a person to look at, never an update."""
    if identity.birth_date != data.birth_date:
        raise OrderRefusal(
            OrderPart.BIRTH_DATE,
            OrderKind.MISMATCH,
            "the birth date is not the one registered for this patient",
        )
    try:
        given = normalize_name_for_index(identity.birth_name)
    except InvalidInput:
        raise OrderRefusal(OrderPart.NAME, OrderKind.INVALID, "the birth name holds no letter") from None
    names = [data.birth_name, *([data.used_name] if data.used_name else [])]
    if given not in {normalize_name_for_index(n) for n in names}:
        raise OrderRefusal(
            OrderPart.NAME, OrderKind.MISMATCH, "the birth name is not the one registered for this patient"
        )
    if {identity.sex, data.sex} == {"M", "F"}:
        raise OrderRefusal(
            OrderPart.SEX, OrderKind.MISMATCH, "the sex is not the one registered for this patient"
        )


def _tests(
    catalog: Catalog, own: dict[str, str], position: int, order: Requested
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The order's catalogue tests and panels: by LOINC, by NABM act (a test's, or the single act
    of a panel), else the lab's own test or panel code (through this sender's code mapping)."""
    by_loinc = {t.loinc: t.code for t in catalog.tests if t.loinc}
    nabm_tests: dict[str, list[str]] = {}
    for test in catalog.tests:
        if test.nabm:
            nabm_tests.setdefault(test.nabm, []).append(test.code)
    nabm_panels = {p.nabm[0].code: p.code for p in catalog.panels if len(p.nabm) == 1}
    panel_codes = {p.code for p in catalog.panels}
    tests: list[str] = []
    panels: list[str] = []
    for index, codes in enumerate(order.tests):
        found: tuple[str, bool] | None = None  # (code, is a panel)
        for given in codes:
            code = given.code.strip()
            if given.system == LOINC and code in by_loinc:
                found = (by_loinc[code], False)
            elif given.system == NABM and len(nabm_tests.get(code, [])) == 1:
                found = (nabm_tests[code][0], False)
            elif given.system == NABM and code in nabm_panels:
                found = (nabm_panels[code], True)
            elif given.system == LOCAL:
                local = own.get(code.upper(), code.upper())
                if catalog.get(local) is not None:
                    found = (local, False)
                elif local in panel_codes:
                    found = (local, True)
            if found is not None:
                break
        if found is None:
            first = codes[0].system if codes else LOCAL
            what = {LOINC: "no test with this LOINC code", NABM: "no test or panel with this NABM act"}.get(
                first, "unknown test code"
            )
            raise OrderRefusal(
                OrderPart.TEST,
                OrderKind.NOT_IN_TABLE,
                f"{what} in catalogue {catalog.version}",
                order=position,
                test=index,
            )
        (panels if found[1] else tests).append(found[0])
    return tuple(dict.fromkeys(tests)), tuple(dict.fromkeys(panels))


def _prescriber(unit: Unit, position: int, order: Requested) -> uuid.UUID | None:
    """The order's prescriber, a physician of the lab by RPPS. An unknown RPPS is refused, not
    created: a physician decides who reads results (prescriber accounts, receivers bound to them),
    so only the lab registers one (``POST /api/v1/physicians``); the sender resends after."""
    if not order.prescriber_rpps:
        return None
    try:
        rpps = validate_rpps(order.prescriber_rpps)
    except InvalidInput:
        raise OrderRefusal(
            OrderPart.PRESCRIBER,
            OrderKind.INVALID,
            "not an RPPS number (11 digits, Luhn key)",
            order=position,
        ) from None
    physician: Physician | None = physician_by_rpps(unit.session, unit.keys, rpps)
    if physician is None:
        raise OrderRefusal(
            OrderPart.PRESCRIBER,
            OrderKind.UNKNOWN,
            "no physician with this RPPS in this laboratory: the lab registers them first",
            order=position,
        )
    return physician.id


def _refusal_of(exc: InvalidInput) -> OrderRefusal:
    """The order service's refusal (``orders[1].clinical_info``) as the part of the order."""
    field = exc.field
    position = None
    if field.startswith("orders["):
        closing = field.index("]")
        position = int(field[7:closing])
        field = field[closing + 2 :]
    part = OrderPart.CLINICAL if field == "clinical_info" else OrderPart.ORDER
    return OrderRefusal(part, OrderKind.INVALID, exc.reason, order=position)
