"""``labvault breach check``: does a file found outside hold this lab's patients, or its canaries?

The file's identifiers are turned into the lab's blind indexes (the identity layer's own
normalisation and index functions) and looked up in the ``*_bidx`` columns: nothing in the
database is decrypted, and nothing found in the file is printed or stored, only patient ids and
line numbers. A NIR or INS match is strong (a 64-bit index); a name + birth date match is probable
(a deliberately short 32-bit index, and homonyms exist). A canary in the file is strong evidence
that the file came from this lab: canaries exist nowhere else.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute

from labvault.crypto.keyset import LabKeySet
from labvault.governance.breach_extract import (
    Candidate,
    Kind,
    LineSource,
    chain_lines,
    csv_candidates,
    text_lines,
)
from labvault.governance.breach_sql import sql_candidates
from labvault.identity import patient_codec as codec
from labvault.identity.models import Patient
from labvault.keys.store import KeyStore
from labvault.oversight.canaries import canaries_among
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.database import Database

BATCH = 2000  # distinct index values looked up per round trip group
CHUNK = 500
LINES_SHOWN = 20
STRONG = frozenset({"nir", "ins"})
_SQL_START = re.compile(
    r"^\s*(--|/\*|INSERT\s+INTO|CREATE\s+TABLE|COPY\s|SET\s|BEGIN|START\s+TRANSACTION|LOCK\s+TABLES|DROP\s+TABLE)",
    re.IGNORECASE,
)


@dataclass
class PatientMatch:
    patient_id: uuid.UUID
    on: set[str] = field(default_factory=set)  # nir, ins, name_birth_date
    lines: list[int] = field(default_factory=list)  # the first LINES_SHOWN, in file order
    line_count: int = 0  # distinct lines of the file naming this patient
    _seen: set[int] = field(default_factory=set, repr=False)
    canary: bool = False

    @property
    def strong(self) -> bool:
        return bool(self.on & STRONG)


@dataclass
class BreachReport:
    lab_code: str
    sha256: str = ""
    lines: int = 0
    nir_candidates: int = 0
    name_birth_candidates: int = 0
    matches: dict[uuid.UUID, PatientMatch] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.matches)

    @property
    def canaries(self) -> list[PatientMatch]:
        return [m for m in self.matches.values() if m.canary]


class _Hashing:
    """The file as read: hashed (the report names the exact file checked) and counted."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.lines = 0

    def readline(self, size: int = -1, /) -> bytes:
        data = self.stream.readline(size)
        self.digest.update(data)
        if data.endswith(b"\n") or (data and len(data) != size):
            self.lines += 1
        return data


def candidates(stream: LineSource) -> Iterator[Candidate]:
    """Every candidate of the file, in file order: SQL if its first non-blank line looks like SQL
    (a comment, ``INSERT``, ``CREATE TABLE``, ``COPY``, ``SET``...), CSV otherwise."""
    lines = text_lines(stream)
    head: list[tuple[int, str]] = []
    for item in lines:
        head.append(item)
        if item[1].strip():
            break
    first = head[-1][1] if head else ""
    replay = chain_lines(head, lines)
    yield from (sql_candidates(replay) if _SQL_START.match(first) else csv_candidates(replay))


OFFICER = Permission.ALERTS_READ  # breach response is the security officer's


class BreachChecker:
    def __init__(self, db: Database, keys: KeyStore) -> None:
        self.gate = Gate(db, keys)

    def check(self, ctx: AccessContext, lab_code: str, stream: BinaryIO) -> BreachReport:
        """Scan ``stream`` (any size: read line by line, looked up in batches)."""
        with self.gate.lab(ctx, OFFICER) as unit:
            keys = unit.keys
        report = BreachReport(lab_code)
        hashing = _Hashing(stream)
        pending: list[Candidate] = []
        for candidate in candidates(hashing):
            pending.append(candidate)
            if len(pending) >= BATCH:
                self._look_up(ctx, keys, pending, report)
                pending = []
        self._look_up(ctx, keys, pending, report)
        while hashing.readline(1 << 20):  # the hash covers the whole file, even a tail without rows
            pass
        report.sha256 = hashing.digest.hexdigest()
        report.lines = hashing.lines
        for match in report.matches.values():
            match.lines.sort()
        with self.gate.lab_rows(ctx, OFFICER) as lab:
            session = lab.session
            for patient_id in canaries_among(session, report.matches, keys):
                report.matches[patient_id].canary = True
            detail = {
                "sha256": report.sha256,
                "patients": len(report.matches),
                "strong": sum(1 for m in report.matches.values() if m.strong),
                "canaries": len(report.canaries),
            }
            # Ids and counts only; no patient named (the ids are in the officer's report).
            audit.append(session, ctx, AuditRecord("breach.check", "lab", str(lab.lab_id), detail))
        return report

    def _look_up(
        self, ctx: AccessContext, keys: LabKeySet, batch: list[Candidate], report: BreachReport
    ) -> None:
        if not batch:
            return
        wanted: dict[tuple[str, bytes], list[int]] = {}
        for c in batch:
            if c.kind is Kind.NIR:
                report.nir_candidates += 1
                wanted.setdefault(("nir", codec.nir_index(keys, c.value)), []).append(c.line)
                wanted.setdefault(("ins", codec.ins_index(keys, c.value)), []).append(c.line)
            elif c.birth_date is not None:
                report.name_birth_candidates += 1
                index = codec.name_birth_index(keys, c.name, c.birth_date)
                wanted.setdefault(("name_birth_date", index), []).append(c.line)
        columns: dict[str, list[InstrumentedAttribute[bytes | None]]] = {
            "nir": [Patient.nir_bidx],
            "ins": [Patient.ins_bidx],
            "name_birth_date": [Patient.name_birth_bidx, Patient.used_name_birth_bidx],
        }
        with self.gate.lab_rows(ctx, OFFICER) as lab:
            session = lab.session
            for kind, cols in columns.items():
                values = [index for (k, index) in wanted if k == kind]
                for column in cols:
                    for start in range(0, len(values), CHUNK):
                        chunk = values[start : start + CHUNK]
                        condition: ColumnElement[bool] = column.in_(chunk)
                        for row in session.execute(select(Patient.id, column).where(condition)):
                            if row[1] is not None:
                                self._record(report, row[0], kind, wanted[(kind, row[1])])

    @staticmethod
    def _record(report: BreachReport, patient_id: uuid.UUID, kind: str, lines: list[int]) -> None:
        match = report.matches.setdefault(patient_id, PatientMatch(patient_id))
        match.on.add(kind)
        for line in lines:
            if line not in match._seen:
                match._seen.add(line)
                match.line_count += 1
                if len(match.lines) < LINES_SHOWN:
                    match.lines.append(line)
