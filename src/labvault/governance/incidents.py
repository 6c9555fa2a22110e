"""Breach response: a lab's incident records, their affected patients, and the drafts to send.

Who: the lab's security officer (the lab_admin role: ``incidents.manage``). Each incident keeps its
free text sealed (governance/incident_models.py) and its affected patients as ids only, found by a
breach check of a leaked file, by the audit log (every patient one account accessed between two
times), or by an export's manifest. Identities are opened only to print the patients' letters,
through the patient service, so each one is an audited patient read that counts against the
officer's read budgets like any other. Every step is on the lab's audit chain, by ids and counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from labvault.errors import InvalidInput, NotFound
from labvault.governance import incident_drafts as drafts
from labvault.governance import incident_rules as rules
from labvault.governance.breach import BreachReport
from labvault.governance.incident_data import (
    DETAIL_FIELDS,
    MAX_TEXT,
    AffectedAdded,
    AffectedCounts,
    IncidentChanges,
    IncidentDetails,
    IncidentInput,
    IncidentView,
)
from labvault.governance.incident_models import BreachIncident, IncidentPatient
from labvault.governance.incident_rules import Source, Status
from labvault.identity.models import Lab, Patient, User
from labvault.identity.patient_data import PatientData
from labvault.identity.patient_service import PatientService
from labvault.keys.store import KeyStore
from labvault.oversight.canaries import canaries_among
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate, LabUnit
from labvault.security.models import AuditEvent
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.database import Database
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.pending_identities import MERGED_AWAY

MANAGE = Permission.INCIDENTS_MANAGE
OBJECT = "incident"
CHUNK = 500
_SEALED = SealedColumns(BreachIncident, "details")
Clock = Callable[[], dt.datetime]


class ExportManifest(Protocol):
    """The seam for exports (issue 14 §1, not built yet): an export's manifest names its patients.
    Whatever the export package records will satisfy this with its id and its patient list."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def patient_ids(self) -> Collection[uuid.UUID]: ...


def _details(changes: dict[str, str], base: IncidentDetails | None = None) -> IncidentDetails:
    unknown = set(changes) - set(DETAIL_FIELDS)
    if unknown:
        raise InvalidInput("details", f"unknown field(s): {', '.join(sorted(unknown))}")
    values = (base or IncidentDetails()).as_dict()
    for name, text in changes.items():
        cleaned = text.strip()
        if len(cleaned) > MAX_TEXT:
            raise InvalidInput(name, f"is longer than {MAX_TEXT} characters")
        values[name] = cleaned
    return IncidentDetails(**values)


class IncidentService:
    def __init__(self, db: Database, keys: KeyStore, patients: PatientService, clock: Clock = utcnow) -> None:
        self.gate = Gate(db, keys)
        self.patients = patients
        self.clock = clock

    # --- the record -------------------------------------------------------------------------------

    def open(self, ctx: AccessContext, data: IncidentInput) -> IncidentView:
        """Record an incident; its 72-hour deadline runs from ``data.discovered_at``."""
        now = self.clock()
        discovered = rules.check_past(data.discovered_at, now)
        nature = rules.parse_nature(data.nature)
        details = _details(data.details.as_dict())
        with self.gate.lab(ctx, MANAGE) as unit:
            row_id = uuid.uuid4()
            row = BreachIncident(
                id=row_id,
                lab_id=unit.lab_id,
                discovered_at=discovered,
                opened_at=now,
                opened_by=ctx.actor_id,
                nature=rules.nature_text(nature),
                status=Status.OPEN.value,
                people_approx=rules.check_count("people_approx", data.people_approx),
                records_approx=rules.check_count("records_approx", data.records_approx),
                details_enc=_SEALED.seal_json(unit.keys.cipher, "details", row_id, details.as_dict()),
            )
            unit.session.add(row)
            unit.session.flush()
            detail = {"discovered_at": discovered.isoformat(), "nature": row.nature}
            audit.append(unit.session, ctx, AuditRecord("incident.open", OBJECT, str(row_id), detail))
            return self._view(unit, row, now)

    def update(self, ctx: AccessContext, incident_id: uuid.UUID, changes: IncidentChanges) -> IncidentView:
        """Change the nature, the approximate counts or free-text fields (the audit names which)."""
        now = self.clock()
        with self.gate.lab(ctx, MANAGE) as unit:
            row = self._row(unit.session, incident_id)
            changed: list[str] = []
            if changes.nature is not None:
                row.nature = rules.nature_text(rules.parse_nature(changes.nature))
                changed.append("nature")
            for name in ("people_approx", "records_approx"):
                value = getattr(changes, name)
                if value is not None:
                    setattr(row, name, rules.check_count(name, value))
                    changed.append(name)
            if changes.details:
                details = _details(changes.details, self._open_details(unit, row))
                row.details_enc = _SEALED.seal_json(unit.keys.cipher, "details", row.id, details.as_dict())
                changed += sorted(changes.details)
            if not changed:
                raise InvalidInput("changes", "nothing to change")
            audit.append(
                unit.session, ctx, AuditRecord("incident.update", OBJECT, str(row.id), {"changed": changed})
            )
            return self._view(unit, row, now)

    def get(self, ctx: AccessContext, incident_id: uuid.UUID) -> IncidentView:
        now = self.clock()
        with self.gate.read(ctx, MANAGE) as unit:
            row = self._row(unit.session, incident_id)
            audit.append(unit.session, ctx, AuditRecord("incident.read", OBJECT, str(row.id)))
            return self._view(unit, row, now)

    def list(self, ctx: AccessContext) -> list[IncidentView]:
        """The lab's incidents, newest discovery first."""
        now = self.clock()
        with self.gate.read(ctx, MANAGE) as unit:
            rows = list(
                unit.session.scalars(select(BreachIncident).order_by(BreachIncident.discovered_at.desc()))
            )
            audit.append(unit.session, ctx, AuditRecord("incident.list", OBJECT, None, {"count": len(rows)}))
            return [self._view(unit, row, now) for row in rows]

    def notify(
        self, ctx: AccessContext, incident_id: uuid.UUID, at: dt.datetime | None = None
    ) -> IncidentView:
        """Record that the regulator was notified (at ``at``, default now)."""
        now = self.clock()
        when = now if at is None else rules.check_past(at, now, "notified_at")
        return self._step(ctx, incident_id, Status.NOTIFIED, when, now)

    def close(self, ctx: AccessContext, incident_id: uuid.UUID) -> IncidentView:
        now = self.clock()
        return self._step(ctx, incident_id, Status.CLOSED, now, now)

    def _step(
        self, ctx: AccessContext, incident_id: uuid.UUID, wanted: Status, when: dt.datetime, now: dt.datetime
    ) -> IncidentView:
        with self.gate.lab(ctx, MANAGE) as unit:
            row = self._row(unit.session, incident_id)
            if wanted is Status.NOTIFIED and when < row.discovered_at:
                raise InvalidInput("notified_at", "is before the discovery")
            row.status = rules.next_status(Status(row.status), wanted).value
            if wanted is Status.NOTIFIED:
                row.notified_at = when
                action = "incident.notify"
            else:
                row.closed_at = when
                action = "incident.close"
            audit.append(
                unit.session, ctx, AuditRecord(action, OBJECT, str(row.id), {"at": when.isoformat()})
            )
            return self._view(unit, row, now)

    # --- affected patients ------------------------------------------------------------------------

    def affected_from_check(
        self, ctx: AccessContext, incident_id: uuid.UUID, report: BreachReport
    ) -> AffectedAdded:
        """The patients a breach check found in a leaked file (canaries left out: they are nobody)."""
        ids = [m.patient_id for m in report.matches.values() if not m.canary]
        detail = {"sha256": report.sha256}
        return self._add(ctx, incident_id, Source.CHECK, ids, detail)

    def affected_from_audit(
        self, ctx: AccessContext, incident_id: uuid.UUID, account: str, start: dt.datetime, end: dt.datetime
    ) -> AffectedAdded:
        """Every patient ``account`` (a username or an account id) accessed in [start, end), as the
        lab's audit chain recorded it (alerts left out: they repeat the access they are about)."""
        start, end = rules.utc(start, "from"), rules.utc(end, "to")
        if end <= start:
            raise InvalidInput("to", "must be after from")
        with self.gate.lab(ctx, MANAGE) as unit:
            self._row(unit.session, incident_id)
            actor_id = _account_id(unit.session, unit.lab_id, account)
            query = (
                select(AuditEvent.patient_id)
                .where(
                    AuditEvent.chain == str(unit.lab_id),
                    AuditEvent.actor_id == actor_id,
                    AuditEvent.at >= start,
                    AuditEvent.at < end,
                    AuditEvent.patient_id.is_not(None),
                    AuditEvent.action.not_like("alert.%"),
                )
                .distinct()
            )
            ids = {pid for pid in unit.session.scalars(query) if pid is not None}
            ids, gone = _after_merges(unit.session, unit.lab_id, ids)
        detail = {"account": str(actor_id), "from": start.isoformat(), "to": end.isoformat(), "gone": gone}
        return self._add(ctx, incident_id, Source.AUDIT, ids, detail)

    def affected_from_export(
        self, ctx: AccessContext, incident_id: uuid.UUID, manifest: ExportManifest
    ) -> AffectedAdded:
        """The patients an export's manifest selected (the export itself: issue 14 §1)."""
        return self._add(
            ctx, incident_id, Source.EXPORT, list(manifest.patient_ids), {"export": str(manifest.id)}
        )

    def affected(self, ctx: AccessContext, incident_id: uuid.UUID) -> dict[uuid.UUID, set[Source]]:
        """The incident's affected patients (ids only), each with the sources that found it."""
        with self.gate.read(ctx, MANAGE) as unit:
            self._row(unit.session, incident_id)
            found = _affected(unit.session, incident_id)
            audit.append(
                unit.session,
                ctx,
                AuditRecord("incident.affected.read", OBJECT, str(incident_id), {"patients": len(found)}),
            )
            return found

    def _add(
        self,
        ctx: AccessContext,
        incident_id: uuid.UUID,
        source: Source,
        found: Iterable[uuid.UUID],
        detail: Mapping[str, object],
    ) -> AffectedAdded:
        wanted = set(found)
        now = self.clock()
        with self.gate.lab(ctx, MANAGE) as unit:
            session = unit.session
            row = self._row(session, incident_id)
            known = _existing(session, wanted)
            if known != wanted:
                raise InvalidInput("patients", f"{len(wanted - known)} are not patients of this laboratory")
            # Canaries are nobody: evidence of where a file came from or who browsed, never
            # someone to write to (and printing one's letter would raise its alert).
            canaries = set(canaries_among(session, wanted, unit.keys))
            wanted -= canaries
            present = set(
                session.scalars(
                    select(IncidentPatient.patient_id).where(
                        IncidentPatient.incident_id == row.id, IncidentPatient.source == source.value
                    )
                )
            )
            new = sorted(wanted - present)
            session.add_all(
                IncidentPatient(
                    lab_id=unit.lab_id, incident_id=row.id, patient_id=pid, source=source.value, added_at=now
                )
                for pid in new
            )
            session.flush()
            counts = _counts(session, row.id)
            record = {
                "source": source.value,
                "found": len(wanted),
                "added": len(new),
                "canaries": len(canaries),
                **detail,
            }
            audit.append(session, ctx, AuditRecord("incident.affected", OBJECT, str(row.id), record))
            return AffectedAdded(source, len(wanted), len(new), counts)

    # --- drafts -----------------------------------------------------------------------------------

    def draft_cnil(self, ctx: AccessContext, incident_id: uuid.UUID) -> bytes:
        """The art. 33 notification draft (French PDF): counts, deadline, nature, DPO, measures."""
        now = self.clock()
        with self.gate.read(ctx, MANAGE) as unit:
            view = self._view(unit, self._row(unit.session, incident_id), now)
            lab = _heading(unit)
            pdf = drafts.cnil_pdf(view, lab, now)
            detail = {"kind": "cnil", "patients": view.affected.total}
            audit.append(unit.session, ctx, AuditRecord("incident.draft", OBJECT, str(incident_id), detail))
        return pdf

    def draft_letters(self, ctx: AccessContext, incident_id: uuid.UUID) -> bytes:
        """The art. 34 letters, one page per affected patient: their name and postal address,
        each opened through the patient service (an audited read, counted by the read budgets)."""
        now = self.clock()
        with self.gate.read(ctx, MANAGE) as unit:
            view = self._view(unit, self._row(unit.session, incident_id), now)
            drafts.check_letter_texts(view)
            lab = _heading(unit)
            ids = sorted(_affected(unit.session, incident_id))
            if not ids:
                raise InvalidInput("incident", "has no affected patient yet: nobody to write to")
            detail = {"kind": "letters", "patients": len(ids)}
            audit.append(unit.session, ctx, AuditRecord("incident.draft", OBJECT, str(incident_id), detail))
        addressees = [_addressee(self.patients.get(ctx, pid).data) for pid in ids]
        return drafts.letters_pdf(view, lab, addressees, now)

    # --- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, incident_id: uuid.UUID) -> BreachIncident:
        row = session.get(BreachIncident, incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id} in this laboratory")
        return row

    @staticmethod
    def _open_details(unit: LabUnit, row: BreachIncident) -> IncidentDetails:
        values = _SEALED.open_json(unit.keys.cipher, row, "details") or {}
        return IncidentDetails(**{k: v for k, v in values.items() if k in DETAIL_FIELDS})

    def _view(self, unit: LabUnit, row: BreachIncident, now: dt.datetime) -> IncidentView:
        return IncidentView(
            id=row.id,
            lab_id=row.lab_id,
            discovered_at=row.discovered_at,
            opened_at=row.opened_at,
            nature=rules.nature_of(row.nature),
            status=Status(row.status),
            people_approx=row.people_approx,
            records_approx=row.records_approx,
            notified_at=row.notified_at,
            closed_at=row.closed_at,
            details=self._open_details(unit, row),
            deadline=rules.deadline(row.discovered_at, now, row.notified_at),
            affected=_counts(unit.session, row.id),
        )


def _heading(unit: LabUnit) -> drafts.LabHeading:
    lab = unit.session.get(Lab, unit.lab_id)
    assert lab is not None  # the unit's own lab
    return drafts.LabHeading(lab.name, lab.finess)


def _addressee(data: PatientData) -> drafts.Addressee:
    """Name and postal address: all a letter says about its patient."""
    return drafts.Addressee(f"{data.first_names} {data.used_name or data.birth_name}", data.address)


def _after_merges(session: Session, lab_id: uuid.UUID, ids: set[uuid.UUID]) -> tuple[set[uuid.UUID], int]:
    """The patients ``ids`` are today: a pending identity merged since (its record deleted) is the
    patient it was merged into; one removed otherwise is left out. The ids, and how many were left out."""
    known = _existing(session, ids)
    gone = sorted(ids - known)
    merged: set[uuid.UUID] = set()
    for start in range(0, len(gone), CHUNK):
        events = session.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.chain == str(lab_id),
                AuditEvent.action == MERGED_AWAY,
                AuditEvent.patient_id.in_(gone[start : start + CHUNK]),
            )
        )
        merged.update(uuid.UUID(str(detail["into"])) for detail in events if detail.get("into"))
    merged = _existing(session, merged)
    return known | merged, len(gone) - len(merged)


def _existing(session: Session, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``ids`` that are patients of the lab (the session's)."""
    ordered = sorted(ids)
    found: set[uuid.UUID] = set()
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        found.update(session.scalars(select(Patient.id).where(Patient.id.in_(chunk))))
    return found


def _account_id(session: Session, lab_id: uuid.UUID, account: str) -> uuid.UUID:
    """An account of this lab, or a platform operator (who may have entered under a support
    grant), by id or username; another lab's account is as absent as a missing one."""
    try:
        condition = User.id == uuid.UUID(account)
    except ValueError:
        condition = User.username == account
    ours = or_(User.lab_id == lab_id, User.lab_id.is_(None))
    found = session.scalar(select(User.id).where(condition, ours))
    if found is None:
        raise NotFound("no such account in this laboratory")
    return found


def _affected(session: Session, incident_id: uuid.UUID) -> dict[uuid.UUID, set[Source]]:
    found: dict[uuid.UUID, set[Source]] = {}
    query = select(IncidentPatient).where(IncidentPatient.incident_id == incident_id)
    for entry in session.scalars(query):
        found.setdefault(entry.patient_id, set()).add(Source(entry.source))
    return found


def _counts(session: Session, incident_id: uuid.UUID) -> AffectedCounts:
    by_source: dict[Source, int] = {}
    for source, count in session.execute(
        select(IncidentPatient.source, func.count())
        .where(IncidentPatient.incident_id == incident_id)
        .group_by(IncidentPatient.source)
    ):
        by_source[Source(source)] = count
    by_source = {s: by_source[s] for s in Source if s in by_source}  # in Source's order
    total = session.scalar(
        select(func.count(func.distinct(IncidentPatient.patient_id))).where(
            IncidentPatient.incident_id == incident_id
        )
    )
    return AffectedCounts(total or 0, by_source)
