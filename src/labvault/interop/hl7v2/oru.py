"""ORU^R01 (observation results, from an analyzer or a middleware) read into what result entry
needs: per observation the tube (SPM-2, else OBR-3), the test (OBX-3), the value (OBX-5), its unit
(OBX-6), its status (OBX-11) and the NTE comments that follow it, and whether its specimen is a
control (SPM-11 ``Q``: a QC result, interop/intake.py); per patient group the identifiers of PID-3,
which must agree with the tube's patient. Pure: nothing here knows a lab.

Two steps: :func:`read_oru` reads the structure (any well-formed ORU^R01, whatever its content),
:func:`check` refuses an observation labvault cannot enter, naming the field."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import hl7

from labvault.catalog.loinc import LOINC_FORMAT
from labvault.interop.hl7v2.envelope import Envelope, component, repetitions
from labvault.interop.hl7v2.refusal import ErrorCode, Location, error, reject

LOINC_SYSTEMS = frozenset({"LN", "LOINC"})
# SPM-11 specimen role (HL7 table 0369) of a control specimen: the observations are QC results.
QC_ROLE = "Q"
# OBX-11 (HL7 table 0085) labvault enters: final, corrected, preliminary, results entered.
ENTERED_STATUSES = frozenset({"F", "C", "P", "R"})
CORRECTION = "C"
# PID-3 assigning authorities (CX-4.2, the OID) of the French INS: NIR, NIA, test NIR.
INS_OIDS = {"1.2.250.1.213.1.4.8": "nir", "1.2.250.1.213.1.4.9": "nia", "1.2.250.1.213.1.4.10": "nir"}
MAX_OBSERVATIONS = 5000
MAX_VALUE = 2000
MAX_COMMENT = 2000


@dataclass(frozen=True)
class PatientId:
    """One PID-3 repetition labvault recognises: ``kind`` nir (INS) or ``lab`` (labvault's id)."""

    kind: str
    value: str
    where: Location


@dataclass(frozen=True)
class Observation:
    """One OBX to enter."""

    where: Location  # the OBX segment (ERR-2 names its fields)
    barcode: str
    barcode_where: Location
    code: str  # OBX-3.1
    code_system: str  # OBX-3.3 (LN for LOINC; anything else: the lab's own test code)
    value: str
    unit: str
    status: str
    values: int  # OBX-5's repetitions
    comment: str | None
    patient: tuple[PatientId, ...]
    qc: bool = False  # SPM-11 says a control specimen (role Q)


@dataclass
class _Group:
    """The OBX of one OBR, held until its specimen is known (SPM follows the OBX in 2.5)."""

    patient: tuple[PatientId, ...] = ()
    barcode: str = ""
    barcode_where: Location = field(default_factory=lambda: Location("SPM", 1, 2))
    pending: list[Observation] = field(default_factory=list)
    qc: bool = False

    def flush(self, out: list[Observation]) -> None:
        out += [
            replace(
                obx, barcode=self.barcode, barcode_where=self.barcode_where, patient=self.patient, qc=self.qc
            )
            for obx in self.pending
        ]
        self.pending = []


def read_oru(envelope: Envelope) -> list[Observation]:
    """The observations of an ORU^R01, in message order; refused with the first wrong field."""
    if (envelope.message_type, envelope.trigger) != ("ORU", "R01"):
        raise reject(ErrorCode.UNSUPPORTED_EVENT, Location("MSH", 1, 9), "expected ORU^R01")
    counts: dict[str, int] = {}
    group = _Group()
    observations: list[Observation] = []
    for segment in envelope.message:
        name = str(segment(0))
        counts[name] = counts.get(name, 0) + 1
        where = Location(name, counts[name])
        if name == "PID":
            group.flush(observations)
            group = _Group(patient=_patient_ids(segment, where))
        elif name == "OBR":
            group.flush(observations)
            group = _Group(patient=group.patient)
            filler = component(segment, 3)
            if filler:
                group.barcode, group.barcode_where = filler, Location("OBR", where.sequence, 3)
        elif name == "SPM":
            specimen = component(segment, 2, 2) or component(segment, 2, 1)
            if specimen:
                group.barcode, group.barcode_where = specimen, Location("SPM", where.sequence, 2)
            group.qc = component(segment, 11, 1).strip().upper() == QC_ROLE
        elif name == "OBX":
            group.pending.append(_observation(segment, where))
        elif name == "NTE" and group.pending:
            text = " ".join(
                component(segment, 3, repeat=r) for r in range(1, repetitions(segment, 3) + 1)
            ).strip()
            if text:
                last = group.pending[-1]
                comment = f"{last.comment} {text}" if last.comment else text
                if len(comment) > MAX_COMMENT:
                    raise error(
                        ErrorCode.DATA_TYPE,
                        Location("NTE", where.sequence, 3),
                        f"comments over {MAX_COMMENT} characters",
                    )
                group.pending[-1] = replace(last, comment=comment)
        if len(observations) + len(group.pending) > MAX_OBSERVATIONS:
            raise error(
                ErrorCode.APPLICATION_INTERNAL, where, f"over {MAX_OBSERVATIONS} observations in one message"
            )
    group.flush(observations)
    return observations


def _observation(segment: hl7.Segment, where: Location) -> Observation:
    """One OBX as read, its specimen and patient still to come (:meth:`_Group.flush`)."""
    return Observation(
        where=where,
        barcode="",
        barcode_where=Location("SPM", 1, 2),
        code=component(segment, 3, 1),
        code_system=component(segment, 3, 3).upper(),
        value=_value(segment, component(segment, 2)),
        unit=component(segment, 6, 1),
        status=component(segment, 11),
        values=repetitions(segment, 5),
        comment=None,
        patient=(),
    )


def check(observations: list[Observation]) -> None:
    """Refuse, naming the first wrong field, what result entry could not take."""
    if not observations:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, Location("OBX"), "an ORU^R01 needs at least one OBX")
    for observation in observations:
        seq = observation.where.sequence
        if not observation.barcode:
            raise error(
                ErrorCode.REQUIRED_FIELD_MISSING,
                Location("SPM", seq, 2),
                "no specimen id for this observation (SPM-2, or OBR-3)",
            )
        if not observation.code:
            raise error(
                ErrorCode.REQUIRED_FIELD_MISSING,
                Location("OBX", seq, 3, 1),
                "the observation identifier is required",
            )
        if observation.code_system in LOINC_SYSTEMS and not LOINC_FORMAT.match(observation.code):
            raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, Location("OBX", seq, 3, 1), "not a LOINC code")
        if not observation.status:
            raise error(
                ErrorCode.REQUIRED_FIELD_MISSING,
                Location("OBX", seq, 11),
                "the observation result status is required",
            )
        if observation.status not in ENTERED_STATUSES:
            raise error(
                ErrorCode.TABLE_VALUE_NOT_FOUND,
                Location("OBX", seq, 11),
                f"result status must be one of {', '.join(sorted(ENTERED_STATUSES))} to be entered",
            )
        if observation.values > 1:
            raise error(ErrorCode.DATA_TYPE, Location("OBX", seq, 5), "one value per observation")
        if not observation.value:
            raise error(
                ErrorCode.REQUIRED_FIELD_MISSING, Location("OBX", seq, 5), "the observation value is required"
            )
        if len(observation.value) > MAX_VALUE:
            raise error(ErrorCode.DATA_TYPE, Location("OBX", seq, 5), f"over {MAX_VALUE} characters")


def _value(segment: hl7.Segment, value_type: str) -> str:
    """OBX-5 as result entry reads it: a structured numeric (SN) ``<^5`` becomes ``<5``; a coded
    value (CE/CWE) its text, else its code."""
    if value_type == "SN":
        parts = [component(segment, 5, c) for c in (1, 2, 3, 4)]
        return "".join(parts).strip()
    if value_type in ("CE", "CWE"):
        return component(segment, 5, 2) or component(segment, 5, 1)
    return component(segment, 5)


def _patient_ids(segment: hl7.Segment, where: Location) -> tuple[PatientId, ...]:
    """PID-3's identifiers labvault can check: an INS (NIR/NIA OIDs) or labvault's own patient id
    (identifier type ``PI`` with no other authority). Others (an MPI's, a hospital's) are ignored."""
    found: list[PatientId] = []
    for repeat in range(1, repetitions(segment, 3) + 1):
        value = component(segment, 3, 1, repeat)
        oid = component(segment, 3, 4, repeat, 2)
        id_type = component(segment, 3, 5, repeat)
        here = Location("PID", where.sequence, 3)
        if not value:
            continue
        if oid in INS_OIDS:
            found.append(PatientId("nir" if INS_OIDS[oid] == "nir" else "nia", value, here))
        elif id_type == "PI" and component(segment, 3, 4, repeat) in ("", "LABVAULT"):
            found.append(PatientId("lab", value, here))
    return tuple(found)
