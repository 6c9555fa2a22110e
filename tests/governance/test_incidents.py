"""Breach response: an incident's deadline, its affected patients (from a breach check and from
the audit log), the drafts (art. 33 and art. 34 PDFs), isolation between labs, and its free text
sealed in the database."""

from __future__ import annotations

import datetime as dt
import io
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.governance.breach import BreachChecker
from labvault.governance.incident_data import IncidentChanges, IncidentDetails, IncidentInput
from labvault.governance.incident_models import BreachIncident
from labvault.governance.incident_rules import Source, Status, deadline
from labvault.governance.incidents import IncidentService
from labvault.identity.accounts import context_for
from labvault.identity.patient_data import PatientRecord
from labvault.identity.synthetic import generate_nir
from labvault.oversight.canaries import CanaryService
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.base import utcnow
from tests.db_inspect import audit_actions, audit_events
from tests.factories import DESK, Bench
from tests.interop.test_hl7_orders import POTASSIUM, control, oml, person
from tests.pdf import pdf_text

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
DETAILS = IncidentDetails(
    summary="Un fichier d'extraction a été trouvé sur un serveur accessible.",
    people_categories="patients du laboratoire",
    record_categories="identité, coordonnées",
    consequences="Risque d'hameçonnage ciblé.",
    measures="Fichier retiré, accès fermé, mots de passe changés.",
    dpo_contact="DPO, 1 place de l'Exemple, 75000 Paris",
)


class Clock:
    """A frozen clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class World:
    platform: Platform
    bench: Bench
    officer: AccessContext
    other_officer: AccessContext
    patients: list[PatientRecord]  # with a NIR; the first three have released results

    def service(self, clock: Callable[[], dt.datetime] = utcnow) -> IncidentService:
        return IncidentService(self.platform.db, self.platform.keys, self.platform.patients, clock)

    def open(
        self, service: IncidentService | None = None, discovered_at: dt.datetime | None = None
    ) -> uuid.UUID:
        data = IncidentInput(discovered_at or utcnow() - dt.timedelta(hours=2), ("confidentiality",), DETAILS)
        return (service or self.platform.incidents).open(self.officer, data).id


@pytest.fixture(scope="module")
def world(platform: Platform) -> World:
    bench = Bench.create(platform, "Laboratoire incident")
    factory = bench.factory
    officer = context_for(factory.user(bench.lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION)
    other_lab = factory.lab("Autre laboratoire")
    other_officer = context_for(factory.user(other_lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION)
    ids = platform.patients.register_many(bench.reception, [factory.patient_data() for _ in range(12)])
    patients = [platform.patients.get(officer, pid) for pid in ids]
    for record in patients[:3]:
        order = bench.order(record.id, tests=("K", "NA", "GLU", "HIV"))
        bench.enter(order, {"K": "4.37", "NA": "141", "GLU": "5.83", "HIV": "negative"})
        bench.validate(order, ["K", "NA", "GLU", "HIV"])
        bench.release(order)
    return World(platform, bench, officer, other_officer, patients)


def leaked_csv(path: Path, records: list[PatientRecord], outsiders: int = 4) -> Path:
    rows = ["nom;prenom;date_naissance;numero_secu"]
    for record in records:
        d = record.data
        rows.append(f"{d.birth_name};{d.first_names};{d.birth_date:%d/%m/%Y};{d.nir}")
    for n in range(outsiders):
        rows.append(f"Inconnu{n};Personne;01/01/1970;")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# --- the deadline -----------------------------------------------------------------------------------


def test_the_deadline_is_72_hours_from_discovery() -> None:
    assert deadline(T0, T0 + dt.timedelta(hours=30)).time_left == dt.timedelta(hours=42)
    assert deadline(T0, T0 + dt.timedelta(hours=30)).words() == "42 h 00 min left"
    late = deadline(T0, T0 + dt.timedelta(hours=75, minutes=5))
    assert late.overdue and late.words() == "overdue by 3 h 05 min"
    notified = deadline(T0, T0 + dt.timedelta(days=9), T0 + dt.timedelta(hours=52))
    assert not notified.overdue and notified.words() == "notified 20 h 00 min before the deadline"


def test_the_service_shows_time_left_then_overdue_with_a_frozen_clock(world: World) -> None:
    clock = Clock(T0 + dt.timedelta(hours=70))
    service = world.service(clock)
    incident = world.open(service, discovered_at=T0)
    view = service.get(world.officer, incident)
    assert view.deadline.due == T0 + dt.timedelta(hours=72)
    assert view.deadline.time_left == dt.timedelta(hours=2) and not view.deadline.overdue
    clock.now = T0 + dt.timedelta(hours=73)
    view = service.get(world.officer, incident)
    assert view.deadline.overdue and view.deadline.time_left == -dt.timedelta(hours=1)
    notified = service.notify(world.officer, incident)
    assert notified.status is Status.NOTIFIED and notified.notified_at == clock.now
    clock.now = T0 + dt.timedelta(days=30)  # once notified, the time left is frozen at the notification
    assert service.get(world.officer, incident).deadline.time_left == -dt.timedelta(hours=1)
    assert service.close(world.officer, incident).status is Status.CLOSED
    with pytest.raises(Exception, match="closed cannot become notified"):
        service.notify(world.officer, incident)


def test_open_refuses_a_discovery_without_zone_or_in_the_future(world: World) -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        world.open(discovered_at=dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="future"):
        world.open(discovered_at=utcnow() + dt.timedelta(days=1))
    far = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14)))
    with pytest.raises(InvalidInput, match="out of range"):
        world.open(discovered_at=far)
    with pytest.raises(InvalidInput, match="nature"):
        world.platform.incidents.open(world.officer, IncidentInput(utcnow(), ("secrecy",)))


# --- affected patients ------------------------------------------------------------------------------


def test_affected_patients_from_a_breach_check(world: World, tmp_path: Path) -> None:
    planted = world.patients[3:6]
    path = leaked_csv(tmp_path / "fuite.csv", planted)
    with path.open("rb") as stream:
        report = BreachChecker(world.platform.db, world.platform.keys).check(
            world.officer, world.bench.lab.code, stream
        )
    incidents = world.platform.incidents
    incident = world.open()
    added = incidents.affected_from_check(world.officer, incident, report)
    assert (added.found, added.added) == (3, 3)
    assert added.counts.total == 3 and added.counts.by_source == {Source.CHECK: 3}
    assert incidents.affected(world.officer, incident) == {r.id: {Source.CHECK} for r in planted}
    again = incidents.affected_from_check(world.officer, incident, report)
    assert (again.found, again.added, again.counts.total) == (3, 0, 3)
    actions = audit_actions(world.platform, world.bench.lab.id)
    assert "incident.open" in actions and "incident.affected" in actions


def test_affected_patients_from_the_audit_log(world: World) -> None:
    platform, bench = world.platform, world.bench
    suspect = context_for(bench.factory.user(bench.lab, Role.RECEPTION))
    colleague = context_for(bench.factory.user(bench.lab, Role.RECEPTION))
    before, read, others, after = (
        world.patients[6],
        world.patients[:5],
        world.patients[7:10],
        world.patients[10],
    )
    platform.patients.get(suspect, before.id)
    time.sleep(0.02)
    start = utcnow()
    for record in read:
        platform.patients.get(suspect, record.id)
    for record in others:
        platform.patients.get(colleague, record.id)
    canary = CanaryService(platform.db, platform.patients).plant(world.officer, 1, "incident test")[0]
    platform.patients.get(suspect, canary.patient_id)  # recorded, and alerted: a canary is nobody
    end = utcnow()
    time.sleep(0.02)
    platform.patients.get(suspect, after.id)
    incident = world.open()
    added = platform.incidents.affected_from_audit(world.officer, incident, suspect.actor_label, start, end)
    assert added.found == 5 and added.counts.by_source == {Source.AUDIT: 5}
    canary_events = [e for e in audit_events(platform, bench.lab.id, patient_id=canary.patient_id)]
    assert any(e.actor_id == suspect.actor_id for e in canary_events), "the canary read is in the log"
    assert set(platform.incidents.affected(world.officer, incident)) == {r.id for r in read}
    by_id = platform.incidents.affected_from_audit(
        world.officer, incident, str(colleague.actor_id), start, end
    )
    assert by_id.added == 3 and by_id.counts.total == 8
    with pytest.raises(NotFound):  # another lab's account is nobody here
        platform.incidents.affected_from_audit(
            world.officer, incident, str(world.other_officer.actor_id), start, end
        )
    with pytest.raises(InvalidInput, match="after"):
        platform.incidents.affected_from_audit(world.officer, incident, suspect.actor_label, end, start)


def test_an_export_manifest_feeds_the_same_list(world: World) -> None:
    @dataclass
    class Manifest:
        id: uuid.UUID
        patient_ids: list[uuid.UUID]

    incident = world.open()
    manifest = Manifest(uuid.uuid4(), [r.id for r in world.patients[:2]])
    added = world.platform.incidents.affected_from_export(world.officer, incident, manifest)
    assert added.counts.by_source == {Source.EXPORT: 2}
    stranger = Manifest(uuid.uuid4(), [uuid.uuid4()])
    with pytest.raises(InvalidInput, match="not patients of this laboratory"):
        world.platform.incidents.affected_from_export(world.officer, incident, stranger)


# --- drafts -----------------------------------------------------------------------------------------


def test_the_cnil_draft_holds_the_counts_and_the_deadline(world: World) -> None:
    clock = Clock(T0 + dt.timedelta(hours=20))
    service = world.service(clock)
    incident = world.open(service, discovered_at=T0)
    service.update(world.officer, incident, IncidentChanges(people_approx=1200, records_approx=5400))
    manifest = type("M", (), {"id": uuid.uuid4(), "patient_ids": [r.id for r in world.patients[:4]]})()
    service.affected_from_export(world.officer, incident, manifest)
    text = pdf_text(service.draft_cnil(world.officer, incident))
    assert "72 heures" in text
    assert "05/03/2026 à 10:30" in text  # T0 + 72 h, in Paris time (UTC+1 in March)
    assert "Temps restant au moment de ce projet : 52 h 00 min" in text
    for expected in ("1200", "5400", "Patients identifiés à ce jour 4", "manifeste d'un export : 4"):
        assert expected in text, expected
    assert DETAILS.dpo_contact in text and "perte de confidentialité" in text


def test_letters_name_each_patient_and_nothing_sensitive(world: World, tmp_path: Path) -> None:
    platform = world.platform
    incident = world.open()
    chosen = world.patients[:3]  # with released K, NA, GLU and HIV results
    manifest = type("M", (), {"id": uuid.uuid4(), "patient_ids": [r.id for r in chosen]})()
    platform.incidents.affected_from_export(world.officer, incident, manifest)
    reads = {"actor_id": world.officer.actor_id, "action": "patient.read"}
    before = len(audit_events(platform, world.bench.lab.id, **reads))
    pdf = platform.incidents.draft_letters(world.officer, incident)
    read_now = audit_events(platform, world.bench.lab.id, **reads)[before:]
    assert sorted(e.patient_id for e in read_now) == sorted(r.id for r in chosen), "one audited read each"
    pages = [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) == 3 and not any("Page" in page for page in pages)
    text = pdf_text(pdf)
    for record in chosen:
        d = record.data
        name = f"{d.first_names} {d.used_name or d.birth_name}"
        assert sum(name in page for page in pages) == 1, "one page per patient"
        assert d.nir and d.nir not in text.replace(" ", "")
        assert f"{d.birth_date:%d/%m/%Y}" not in text
    for item in platform.orders.for_patient(world.bench.biologist, chosen[0].id)[0].items:
        assert item.test_name not in text and f" {item.test_code} " not in f" {text} "
    for value in ("4.37", "4,37", "5.83", "5,83", "negative", "négatif", "VIH", "HIV"):
        assert value not in text, value
    for other in world.patients[3:]:
        assert f"{other.data.first_names} {other.data.birth_name}" not in text
    actions = audit_actions(platform, world.bench.lab.id)
    assert "incident.draft" in actions


def test_letters_refuse_a_nir_in_the_incident_text(world: World) -> None:
    incident = world.open()
    manifest = type("M", (), {"id": uuid.uuid4(), "patient_ids": [world.patients[0].id]})()
    world.platform.incidents.affected_from_export(world.officer, incident, manifest)
    nir = world.patients[0].data.nir
    world.platform.incidents.update(
        world.officer, incident, IncidentChanges(details={"summary": f"NIR {nir}"})
    )
    with pytest.raises(InvalidInput, match="long number"):
        world.platform.incidents.draft_letters(world.officer, incident)


# --- isolation and sealing --------------------------------------------------------------------------


def test_another_lab_sees_nothing_and_staff_may_not(world: World) -> None:
    incidents = world.platform.incidents
    incident = world.open()
    other = world.other_officer
    assert incident not in {i.id for i in incidents.list(other)}
    for attempt in (
        lambda: incidents.get(other, incident),
        lambda: incidents.update(other, incident, IncidentChanges(people_approx=1)),
        lambda: incidents.notify(other, incident),
        lambda: incidents.draft_cnil(other, incident),
        lambda: incidents.affected(other, incident),
    ):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(Forbidden):
        incidents.get(world.bench.biologist, incident)
    with pytest.raises(Forbidden):
        incidents.list(world.bench.reception)


def test_the_free_text_is_not_in_clear_in_the_database(world: World) -> None:
    marker = f"Zqxmarker{uuid.uuid4().hex[:10]}"
    details = IncidentDetails(summary=f"{marker} résumé", measures=f"{marker} mesures", dpo_contact=marker)
    service = world.platform.incidents
    incident = service.open(world.officer, IncidentInput(utcnow(), ("integrity",), details)).id
    assert service.get(world.officer, incident).details.summary == f"{marker} résumé"
    with world.platform.db.transaction(None, unscoped=True) as session:
        rows = session.execute(text("SELECT * FROM breach_incidents")).all()
    raw = repr(rows).encode() + b"".join(
        bytes(v) for row in rows for v in row if isinstance(v, bytes | memoryview)
    )
    assert marker.encode() not in raw and marker.encode().hex().encode() not in raw
    settings = world.platform.settings
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path
    assert row_with(world, incident).details_enc is not None


def row_with(world: World, incident: uuid.UUID) -> BreachIncident:
    with world.platform.db.transaction(world.bench.lab.id) as session:
        row = session.get(BreachIncident, incident)
        assert row is not None
        session.expunge(row)
        return row


def test_an_incident_survives_key_rotation_and_re_encryption(world: World) -> None:
    platform = world.platform
    incident = world.open()
    manifest = type("M", (), {"id": uuid.uuid4(), "patient_ids": [world.patients[0].id]})()
    platform.incidents.affected_from_export(world.officer, incident, manifest)
    before = row_with(world, incident).details_enc
    platform.labs.rotate_keys(world.officer, world.bench.lab.id)
    platform.reencryptor.run(world.bench.lab.id)
    assert row_with(world, incident).details_enc != before
    assert platform.incidents.get(world.officer, incident).details == DETAILS
    assert set(platform.incidents.affected(world.officer, incident)) == {world.patients[0].id}


def test_a_pending_identity_merged_since_counts_as_the_patient_it_became(world: World) -> None:
    """The audit log names the pending identity an order sender created; reception merged it into
    the patient it turned out to be, deleting its record: the incident lists that patient."""
    platform, bench = world.platform, world.bench
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    sender = bench.interface("dpi")
    assert platform.order_intake.mark_sender(admin, sender.username)
    sent = control()
    ack = platform.hl7_inbox.receive(sender.username, oml(sent, person().pid(), POTASSIUM), "mllp:127.0.0.1")
    assert f"MSA|AA|{sent}".encode() in ack, ack
    [pending] = [p.record.id for p in platform.pending_identities.list(bench.reception)]
    suspect = context_for(bench.factory.user(bench.lab, Role.RECEPTION))
    start = utcnow()
    platform.patients.get(suspect, pending)
    platform.patients.get(suspect, world.patients[11].id)
    end = utcnow()
    target = world.patients[6].id
    assert platform.pending_identities.merge(bench.reception, pending, into=target) == 1
    incident = world.open()
    added = platform.incidents.affected_from_audit(world.officer, incident, suspect.actor_label, start, end)
    assert added.found == 2
    assert set(platform.incidents.affected(world.officer, incident)) == {target, world.patients[11].id}


@pytest.mark.parametrize("department", ["75", "2A", "2B"])
def test_letters_refuse_a_nir_of_any_birthplace_in_the_incident_text(world: World, department: str) -> None:
    """A NIR of someone born in Corsica holds 2A or 2B: it is a NIR all the same."""
    nir = generate_nir(random.Random(7), "F", dt.date(1983, 7, 14), department, "004")
    incident = world.open()
    manifest = type("M", (), {"id": uuid.uuid4(), "patient_ids": [world.patients[1].id]})()
    world.platform.incidents.affected_from_export(world.officer, incident, manifest)
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    for written in (nir, spaced):
        changes = IncidentChanges(details={"measures": written})
        world.platform.incidents.update(world.officer, incident, changes)
        with pytest.raises(InvalidInput, match="long number"):
            world.platform.incidents.draft_letters(world.officer, incident)
