"""OML^O21 and ORM^O01 (orders from a hospital's or a practice's software) read into what the
order intake needs (interop/order_intake.py): the patient of PID (PID-3 identifiers, names PID-5,
birth date PID-7, sex PID-8) and its orders, one per placer group (ORC-4; else one per ORC), each
with its placer order numbers (ORC-2, else OBR-2), its prescriber (ORC-12, else OBR-16), its tests
(OBR-4), urgency (ORC-7.6, TQ1-9 or OBR-27.6 ``S``) and clinical information (OBR-13). Pure:
nothing here knows a lab. Every refusal names the segment and field, never the value."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import hl7

from labvault.interop.hl7v2.envelope import Envelope, component, repetitions
from labvault.interop.hl7v2.oru import INS_OIDS, LOINC_SYSTEMS
from labvault.interop.hl7v2.refusal import ErrorCode, Hl7Refusal, Location, error, reject
from labvault.interop.order_intake import (
    LOCAL,
    LOINC,
    NABM,
    Identity,
    OrderKind,
    OrderPart,
    OrderRefusal,
    Requested,
    TestCode,
)

ORDER_MESSAGES = frozenset({("OML", "O21"), ("ORM", "O01")})
NEW_ORDER = "NW"  # ORC-1 (HL7 table 0119): labvault takes new orders; changes and cancels are not built
NABM_SYSTEMS = frozenset({"NABM"})
# RPPS as the French CI-SIS carries it: XCN-13 "RPPS", or the assigning authority of national
# health professional ids (XCN-9.2), whose value is then "8" + the 11-digit RPPS (IdNatPs).
RPPS_TYPES = frozenset({"RPPS"})
RPPS_OID = "1.2.250.1.71.4.2.1"
MAX_ORDERS = 50
MAX_TESTS = 100
MAX_CLINICAL = 2000
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})")


@dataclass(frozen=True)
class PatientRef:
    """One PID-3 repetition labvault recognises: an INS (value and OID) or labvault's own id."""

    kind: str  # "ins" or "lab"
    value: str
    oid: str = ""


@dataclass(frozen=True)
class OrderedPatient:
    ids: tuple[PatientRef, ...]
    birth_name: str
    first_names: str
    used_name: str | None
    birth_date: dt.date
    sex: str
    where: Location  # the PID segment


@dataclass(frozen=True)
class OrderedTest:
    codes: tuple[tuple[str, str], ...]  # (code, system) of OBR-4, then its alternate identifier
    where: Location  # OBR-4


@dataclass
class PlacedGroup:
    """One order to create: the ORC segments of one placer group and their OBR."""

    group: str
    placers: list[str] = field(default_factory=list)
    placer_where: list[Location] = field(default_factory=list)
    rpps: str = ""
    rpps_where: Location | None = None
    urgent: bool = False
    clinical_info: str | None = None
    clinical_where: Location | None = None
    tests: list[OrderedTest] = field(default_factory=list)
    orc: Location = field(default_factory=lambda: Location("ORC"))


@dataclass(frozen=True)
class OrderMessage:
    patient: OrderedPatient
    orders: tuple[PlacedGroup, ...]


def read_orders(envelope: Envelope) -> OrderMessage:
    """The patient and orders of an OML^O21 or ORM^O01; refused with the first wrong field."""
    if (envelope.message_type, envelope.trigger) not in ORDER_MESSAGES:
        raise reject(ErrorCode.UNSUPPORTED_EVENT, Location("MSH", 1, 9), "expected OML^O21 or ORM^O01")
    counts: dict[str, int] = {}
    patient: OrderedPatient | None = None
    groups: dict[str, PlacedGroup] = {}
    current: PlacedGroup | None = None
    for segment in envelope.message:
        name = str(segment(0))
        counts[name] = counts.get(name, 0) + 1
        where = Location(name, counts[name])
        if name == "PID":
            if patient is not None:
                raise error(ErrorCode.SEGMENT_SEQUENCE, where, "one patient per message")
            patient = _patient(segment, where)
        elif name == "ORC":
            if patient is None:
                raise error(ErrorCode.SEGMENT_SEQUENCE, where, "ORC before the patient's PID")
            current = _orc(segment, where, groups)
        elif name == "TQ1" and current is not None:
            if component(segment, 9).upper() == "S":
                current.urgent = True
        elif name == "OBR":
            if current is None:
                raise error(ErrorCode.SEGMENT_SEQUENCE, where, "OBR without its ORC")
            _obr(segment, where, current)
        if len(groups) > MAX_ORDERS:
            raise error(ErrorCode.APPLICATION_INTERNAL, where, f"over {MAX_ORDERS} orders in one message")
    if patient is None:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, Location("PID"), "an order message needs its PID")
    if not groups:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, Location("ORC"), "an order message needs an ORC")
    for group in groups.values():
        if not group.tests:
            raise error(ErrorCode.REQUIRED_FIELD_MISSING, Location("OBR"), "each order needs an OBR")
        if not group.placers:
            raise error(
                ErrorCode.REQUIRED_FIELD_MISSING,
                Location("ORC", group.orc.sequence, 2),
                "the placer order number is required (ORC-2, or OBR-2)",
            )
    return OrderMessage(patient, tuple(groups.values()))


def _patient(segment: hl7.Segment, where: Location) -> OrderedPatient:
    seq = where.sequence
    birth_name, first_names, used_name = "", "", None
    for repeat in range(1, max(repetitions(segment, 5), 1) + 1):
        family = component(segment, 5, 1, repeat)
        given = " ".join(p for p in (component(segment, 5, 2, repeat), component(segment, 5, 3, repeat)) if p)
        kind = component(segment, 5, 7, repeat).upper()
        if kind == "D":  # the used name (nom d'usage)
            used_name = family or None
            first_names = first_names or given
        elif not birth_name and kind in ("L", ""):  # the birth name (nom de naissance)
            birth_name, first_names = family, given or first_names
    if not birth_name:
        raise error(
            ErrorCode.REQUIRED_FIELD_MISSING, Location("PID", seq, 5, 1), "the birth name is required"
        )
    if not first_names:
        raise error(
            ErrorCode.REQUIRED_FIELD_MISSING, Location("PID", seq, 5, 2), "the first names are required"
        )
    raw_date = component(segment, 7)
    if not raw_date:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, Location("PID", seq, 7), "the birth date is required")
    birth_date = _date(raw_date)
    if birth_date is None:
        raise error(ErrorCode.DATA_TYPE, Location("PID", seq, 7), "not a date (YYYYMMDD)")
    sex = component(segment, 8).upper() or "U"
    if sex in ("O", "A", "N"):
        sex = "U"
    if sex not in ("M", "F", "U"):
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, Location("PID", seq, 8), "sex must be M, F or U")
    return OrderedPatient(_patient_refs(segment), birth_name, first_names, used_name, birth_date, sex, where)


def _date(value: str) -> dt.date | None:
    match = _DATE.match(value)
    if match is None:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _patient_refs(segment: hl7.Segment) -> tuple[PatientRef, ...]:
    """PID-3's identifiers labvault uses: an INS (NIR/NIA OIDs, with its OID) or labvault's own id
    (identifier type ``PI`` with no other authority). Others (a hospital's MRN) are ignored."""
    found: list[PatientRef] = []
    for repeat in range(1, repetitions(segment, 3) + 1):
        value = component(segment, 3, 1, repeat)
        oid = component(segment, 3, 4, repeat, 2)
        if not value:
            continue
        if oid in INS_OIDS:
            found.append(PatientRef("ins", value, oid))
        elif component(segment, 3, 5, repeat) == "PI" and component(segment, 3, 4, repeat) in (
            "",
            "LABVAULT",
        ):
            found.append(PatientRef("lab", value))
    return tuple(found)


def _orc(segment: hl7.Segment, where: Location, groups: dict[str, PlacedGroup]) -> PlacedGroup:
    seq = where.sequence
    control = component(segment, 1).upper()
    if control != NEW_ORDER:
        raise error(
            ErrorCode.TABLE_VALUE_NOT_FOUND,
            Location("ORC", seq, 1),
            "only new orders (NW) are taken: changes and cancellations are made at the lab",
        )
    key = component(segment, 4) or f"#{seq}"
    group = groups.get(key)
    if group is None:
        group = groups[key] = PlacedGroup(key, orc=where)
    placer = component(segment, 2)
    if placer and placer not in group.placers:
        group.placers.append(placer)
        group.placer_where.append(Location("ORC", seq, 2))
    _prescriber(group, segment, 12, Location("ORC", seq, 12))
    if component(segment, 7, 6).upper() == "S":
        group.urgent = True
    return group


def _obr(segment: hl7.Segment, where: Location, group: PlacedGroup) -> None:
    seq = where.sequence
    codes = tuple(
        (component(segment, 4, c), component(segment, 4, c + 2).upper())
        for c in (1, 4)
        if component(segment, 4, c)
    )
    if not codes:
        raise error(
            ErrorCode.REQUIRED_FIELD_MISSING, Location("OBR", seq, 4), "the universal service id is required"
        )
    group.tests.append(OrderedTest(codes, Location("OBR", seq, 4)))
    if len(group.tests) > MAX_TESTS:
        raise error(
            ErrorCode.APPLICATION_INTERNAL, Location("OBR", seq), f"over {MAX_TESTS} tests in one order"
        )
    if not group.placers and component(segment, 2):
        group.placers.append(component(segment, 2))
        group.placer_where.append(Location("OBR", seq, 2))
    _prescriber(group, segment, 16, Location("OBR", seq, 16))
    if component(segment, 27, 6).upper() == "S":
        group.urgent = True
    clinical = component(segment, 13)
    if clinical:
        text = f"{group.clinical_info} {clinical}" if group.clinical_info else clinical
        if len(text) > MAX_CLINICAL:
            raise error(ErrorCode.DATA_TYPE, Location("OBR", seq, 13), f"over {MAX_CLINICAL} characters")
        group.clinical_info = text
        group.clinical_where = Location("OBR", seq, 13)


def _prescriber(group: PlacedGroup, segment: hl7.Segment, number: int, where: Location) -> None:
    """The first prescriber given (ORC-12, else OBR-16) as an RPPS candidate: its IdNatPs form
    (``8`` + RPPS, national authority or type RPPS) reduced to the RPPS; checked by the intake."""
    if group.rpps:
        return
    value = component(segment, number, 1)
    if not value:
        return
    national = (
        component(segment, number, 9, 1, 2) == RPPS_OID
        or component(segment, number, 13).upper() in RPPS_TYPES
    )
    if national and len(value) == 12 and value.startswith("8"):
        value = value[1:]
    group.rpps, group.rpps_where = value, where


# --- to the channel-neutral order intake --------------------------------------------------------


def identity_of(message: OrderMessage) -> Identity:
    patient = message.patient
    ins = next((ref for ref in patient.ids if ref.kind == "ins"), None)
    own = next((ref for ref in patient.ids if ref.kind == "lab"), None)
    return Identity(
        birth_name=patient.birth_name,
        first_names=patient.first_names,
        birth_date=patient.birth_date,
        sex=patient.sex,
        used_name=patient.used_name,
        ins=ins.value if ins else None,
        ins_oid=ins.oid if ins else None,
        patient_id=own.value if own else None,
    )


def requested_of(message: OrderMessage) -> list[Requested]:
    return [
        Requested(
            placers=tuple(group.placers),
            tests=tuple(
                tuple(TestCode(code, _system(system)) for code, system in t.codes) for t in group.tests
            ),
            prescriber_rpps=group.rpps or None,
            urgent=group.urgent,
            clinical_info=group.clinical_info,
        )
        for group in message.orders
    ]


def _system(system: str) -> str:
    if system in LOINC_SYSTEMS:
        return LOINC
    return NABM if system in NABM_SYSTEMS else LOCAL


_CODES = {
    OrderKind.UNKNOWN: ErrorCode.UNKNOWN_KEY,
    OrderKind.NOT_IN_TABLE: ErrorCode.TABLE_VALUE_NOT_FOUND,
    OrderKind.INVALID: ErrorCode.DATA_TYPE,
    OrderKind.MISMATCH: ErrorCode.UNKNOWN_KEY,
    OrderKind.DUPLICATE: ErrorCode.DUPLICATE_KEY,
}


def hl7_refusal(refused: OrderRefusal, message: OrderMessage | None) -> Hl7Refusal:
    """The intake's refusal as the segment and field it is about."""
    if refused.kind is OrderKind.NOT_ALLOWED or message is None:
        return reject(ErrorCode.UNSUPPORTED_MESSAGE_TYPE, Location("MSH", 1, 9), refused.reason)
    pid = message.patient.where.sequence
    group = message.orders[refused.order] if refused.order is not None else None
    where: Location
    if refused.part is OrderPart.TEST and group is not None and refused.test is not None:
        where = group.tests[refused.test].where
    elif refused.part is OrderPart.PRESCRIBER and group is not None and group.rpps_where is not None:
        where = group.rpps_where
    elif refused.part is OrderPart.PLACER and group is not None and group.placer_where:
        where = group.placer_where[0]
    elif refused.part is OrderPart.CLINICAL and group is not None and group.clinical_where is not None:
        where = group.clinical_where
    elif refused.part is OrderPart.ORDER and group is not None:
        where = group.orc
    else:
        field_of = {OrderPart.NAME: 5, OrderPart.BIRTH_DATE: 7, OrderPart.SEX: 8}
        where = Location("PID", pid, field_of.get(refused.part, 3))
    return error(_CODES[refused.kind], where, refused.reason)
