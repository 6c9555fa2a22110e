"""The patient-visible access log: who (role, lab, person) accessed a patient's record, when, how
and why, in plain words, newest first.

It is read from the audit log (every event names its patient), so it is exactly what was
recorded, never a separate story. Staff full names are decrypted with the lab's keys; an account
without one (the platform operator) shows its username. The reading is itself audited, in the same
transaction, so it appears at the top of what it returns. Today lab staff read it (the policy
says who); the patient portal will serve the same entries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from labvault.errors import InvalidInput, NotFound
from labvault.identity.models import Lab, Patient, User
from labvault.identity.user_codec import open_full_name
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate, LabUnit
from labvault.security.models import AuditEvent
from labvault.security.permissions import Permission
from labvault.store.database import Database

MAX_PAGE = 200
MAX_SEQ = 2**63 - 1  # audit_events.seq is a BIGINT
READ_ACTION = "patient.access_log.read"
BREAK_GLASS_ACTIONS = frozenset({"restricted.break_glass", "restricted.override_use"})

# (French, English). Actions missing here read as a generic access.
ACTIONS: dict[str, tuple[str, str]] = {
    "patient.create": ("a créé votre dossier", "created your record"),
    "patient.read": ("a consulté votre identité", "viewed your identity"),
    "patient.update": ("a modifié votre identité", "changed your identity"),
    "patient.search": ("a trouvé votre dossier par une recherche", "found your record in a search"),
    "patient.search_hit": ("a trouvé votre dossier par une recherche", "found your record in a search"),
    READ_ACTION: ("a consulté la liste des accès à votre dossier", "viewed who accessed your record"),
    "order.create": ("a enregistré une prescription", "registered a prescription"),
    "order.read": ("a consulté une prescription", "viewed a prescription"),
    "order.list": ("a consulté vos prescriptions", "viewed your prescriptions"),
    "order.labels": ("a imprimé des étiquettes de tubes", "printed tube labels"),
    "specimen.collect": ("a enregistré un prélèvement", "recorded a sample collection"),
    "specimen.receive": ("a réceptionné un tube", "received a sample tube"),
    "specimen.reject": ("a refusé un tube", "rejected a sample tube"),
    "specimen.read": ("a consulté un tube", "viewed a sample tube"),
    "specimen.resolve": ("a scanné un tube", "scanned a sample tube"),
    "worklist.read": ("a vu une analyse sur une liste de travail", "saw a test on a worklist"),
    "result.enter": ("a saisi un résultat", "entered a result"),
    "result.correct": ("a corrigé un résultat", "corrected a result"),
    "result.withdraw": ("a retiré un résultat calculé", "withdrew a calculated result"),
    "result.rehearse": ("a préparé une saisie de résultats", "prepared a result entry"),
    "result.validate_technical": ("a validé techniquement un résultat", "technically validated a result"),
    "result.validate_biological": ("a validé biologiquement un résultat", "medically validated a result"),
    "result.critical_call": ("a signalé un résultat critique", "reported a critical result"),
    "result.versions": ("a consulté l'historique d'un résultat", "viewed a result's history"),
    "result.history": ("a consulté vos résultats antérieurs", "viewed your past results"),
    "result.cumulative": ("a consulté vos résultats antérieurs", "viewed your past results"),
    "report.release": ("a signé un compte rendu", "signed a report"),
    "report.list": ("a consulté la liste de vos comptes rendus", "viewed the list of your reports"),
    "report.read": ("a consulté un compte rendu", "viewed a report"),
    "report.regenerate": ("a vérifié un compte rendu", "checked a report"),
    "restricted.break_glass": (
        "a ouvert en urgence l'accès à vos résultats protégés",
        "opened emergency access to your protected results",
    ),
    "restricted.override_use": (
        "a consulté vos résultats protégés (accès d'urgence)",
        "viewed your protected results (emergency access)",
    ),
}
GENERIC_ACTION = ("a accédé à votre dossier", "accessed your record")
ROLES: dict[str, tuple[str, str]] = {
    "reception": ("accueil / secrétariat", "reception"),
    "technician": ("technicien(ne) de laboratoire", "laboratory technician"),
    "biologist": ("biologiste", "medical biologist"),
    "lab_admin": ("administrateur du laboratoire", "laboratory administrator"),
    "prescriber": ("médecin prescripteur", "prescribing physician"),
    "support": ("support technique de la plateforme", "platform support"),
    "platform_operator": ("opérateur de la plateforme", "platform operator"),
}
PURPOSES: dict[str, tuple[str, str]] = {
    "care": ("soins", "care"),
    "identity_vigilance": ("vérification d'identité", "identity checking"),
    "administration": ("gestion administrative", "administration"),
    "maintenance": ("maintenance technique", "technical maintenance"),
}


@dataclass(frozen=True)
class Words:
    fr: str
    en: str


@dataclass(frozen=True)
class AccessEntry:
    seq: int
    at: dt.datetime
    role: str
    role_words: Words
    lab_id: uuid.UUID | None
    lab_name: str
    actor_id: uuid.UUID | None
    who: str  # the person's full name, or their username
    action: str
    action_words: Words
    purpose: str
    purpose_words: Words
    break_glass: bool


@dataclass(frozen=True)
class AccessLogPage:
    patient_id: uuid.UUID
    entries: list[AccessEntry]
    next_before: int | None  # pass as ``before`` for the next (older) page


def _words(table: dict[str, tuple[str, str]], key: str, default: tuple[str, str]) -> Words:
    fr, en = table.get(key, default)
    return Words(fr, en)


class AccessLogService:
    def __init__(self, db: Database, keys: KeyStore) -> None:
        self.gate = Gate(db, keys)

    def for_patient(
        self, ctx: AccessContext, patient_id: uuid.UUID, *, limit: int = 50, before: int | None = None
    ) -> AccessLogPage:
        """One page of the patient's access log, newest first; ``before`` continues a listing."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be 1 to {MAX_PAGE}")
        if before is not None and not 1 <= before <= MAX_SEQ:
            raise InvalidInput("before", "must be a positive entry number from a previous page")
        with self.gate.lab(ctx, Permission.ACCESS_LOG_READ) as unit:
            session, lab_id = unit.session, unit.lab_id
            if session.get(Patient, patient_id) is None:
                raise NotFound(f"no patient {patient_id} in this laboratory")
            audit.append(
                session,
                ctx,
                AuditRecord(READ_ACTION, "patient", str(patient_id), patient_id=patient_id),
            )
            query = (
                select(AuditEvent)
                .where(
                    AuditEvent.patient_id == patient_id,
                    AuditEvent.chain == str(lab_id),
                    AuditEvent.action.not_like("alert.%"),  # an alert repeats the access it is about
                )
                .order_by(AuditEvent.seq.desc())
                .limit(limit + 1)
            )
            if before is not None:
                query = query.where(AuditEvent.seq < before)
            events = list(session.scalars(query))
            more = len(events) > limit
            events = events[:limit]
            names = self._names(unit, {e.actor_id for e in events if e.actor_id})
            labs = {lab.id: lab.name for lab in session.scalars(select(Lab).where(Lab.id == lab_id))}
            entries = [
                AccessEntry(
                    seq=event.seq,
                    at=event.at,
                    role=event.role,
                    role_words=_words(ROLES, event.role, (event.role, event.role)),
                    lab_id=event.lab_id,
                    lab_name=labs.get(event.lab_id, "") if event.lab_id else "",
                    actor_id=event.actor_id,
                    who=names.get(event.actor_id, event.actor_label) if event.actor_id else event.actor_label,
                    action=event.action,
                    action_words=_words(ACTIONS, event.action, GENERIC_ACTION),
                    purpose=event.purpose,
                    purpose_words=_words(PURPOSES, event.purpose, (event.purpose, event.purpose)),
                    break_glass=event.action in BREAK_GLASS_ACTIONS,
                )
                for event in events
            ]
            return AccessLogPage(patient_id, entries, events[-1].seq if more else None)

    def _names(self, unit: LabUnit, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Display names: the full name of the lab's staff (encrypted with its keys), else the username."""
        if not ids:
            return {}
        names: dict[uuid.UUID, str] = {}
        for user in unit.session.scalars(select(User).where(User.id.in_(ids))):
            full_name = open_full_name(unit.keys, user) if user.lab_id == unit.lab_id else None
            names[user.id] = full_name or user.username
        return names
