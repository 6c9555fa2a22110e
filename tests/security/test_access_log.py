"""The patient-visible access log: every access to one patient's record, by whom (full name, or
username; role; lab), what, when and why, newest first, emergency accesses flagged; never another
patient's events; its reading audited and listed; biologists and lab admins only."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

import pytest
from faker import Faker

from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import Account, context_for
from labvault.oversight.access_log import AccessEntry
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.base import utcnow
from labvault.workflow.order_data import OrderRequest
from tests.db_inspect import audit_events
from tests.factories import GIVEN_PASSWORD, Bench, own

REASON = "Patient transféré en réanimation, résultats VIH nécessaires"


@dataclass
class Staff:
    account: Account
    full_name: str

    def ctx(self, purpose: Purpose = Purpose.CARE) -> AccessContext:
        return context_for(self.account, purpose)


@dataclass
class Scene:
    platform: Platform
    bench: Bench
    staff: dict[Role, Staff]
    operator: Account
    patient: uuid.UUID
    neighbour: uuid.UUID  # another patient of the same lab, read by the same people


def named(bench: Bench, role: Role, fake: Faker) -> Staff:
    admin = bench.factory.user(bench.lab, Role.LAB_ADMIN)
    name = fake.name()
    account = bench.platform.accounts.create_user(
        context_for(admin, Purpose.ADMINISTRATION),
        f"s{uuid.uuid4().hex[:12]}",
        GIVEN_PASSWORD,
        role,
        bench.lab.id,
        full_name=name,
    )
    return Staff(own(bench.platform, account), name)


@pytest.fixture(scope="module")
def scene(platform: Platform) -> Scene:
    fake = Faker("fr_FR")
    bench = Bench.create(platform, "Laboratoire journal des accès")
    staff = {role: named(bench, role, fake) for role in (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST)}
    operator = bench.factory.user(None, Role.PLATFORM_OPERATOR)
    reception, technician = staff[Role.RECEPTION], staff[Role.TECHNICIAN]
    patient = platform.patients.register(reception.ctx(), bench.factory.patient_data()).id
    neighbour = platform.patients.register(reception.ctx(), bench.factory.patient_data()).id
    for who in (patient, neighbour):
        platform.patients.get(reception.ctx(), who)
        platform.patients.get(technician.ctx(Purpose.IDENTITY_VIGILANCE), who)
    order = platform.orders.create(reception.ctx(), OrderRequest(patient_id=patient, tests=("HIV", "K")))
    # The technician breaks the glass for the patient and reads the order through it.
    fresh = dataclasses.replace(technician.account, reauthenticated_at=utcnow())
    platform.break_glass.open(fresh, technician.ctx(), patient, REASON)
    platform.orders.get(technician.ctx(), order.id)
    # The platform operator reads the patient under the lab admin's support grant.
    admin = dataclasses.replace(bench.factory.user(bench.lab, Role.LAB_ADMIN), reauthenticated_at=utcnow())
    platform.support.grant(
        admin, context_for(admin), operator.username, 1, "Ticket 77: fiche patient en double"
    )
    support = platform.support.enter(context_for(operator, Purpose.MAINTENANCE), bench.lab.id)
    platform.patients.get(support, patient)
    return Scene(platform, bench, staff, operator, patient, neighbour)


def whole_log(scene: Scene, ctx: AccessContext) -> list[AccessEntry]:
    return scene.platform.access_log.for_patient(ctx, scene.patient, limit=200).entries


def test_the_log_names_who_did_what_and_why_newest_first(scene: Scene) -> None:
    biologist = scene.staff[Role.BIOLOGIST]
    entries = whole_log(scene, biologist.ctx())
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)

    newest = entries[0]
    assert (newest.action, newest.who, newest.role) == (
        "patient.access_log.read",
        biologist.full_name,
        "biologist",
    )
    assert newest.action_words.en == "viewed who accessed your record"

    def rows(action: str) -> list[tuple[str, str, str]]:
        return [(e.who, e.role, e.purpose) for e in entries if e.action == action]

    reception, technician = scene.staff[Role.RECEPTION], scene.staff[Role.TECHNICIAN]
    assert rows("patient.create") == [(reception.full_name, "reception", "care")]
    assert rows("patient.read") == [
        (scene.operator.username, "support", "maintenance"),
        (technician.full_name, "technician", "identity_vigilance"),
        (reception.full_name, "reception", "care"),
    ]
    assert rows("order.create") == [(reception.full_name, "reception", "care")]
    assert rows("restricted.break_glass") == [(technician.full_name, "technician", "care")]
    assert rows("restricted.override_use") == [(technician.full_name, "technician", "care")]
    assert rows("order.read") == [(technician.full_name, "technician", "care")]

    support = next(e for e in entries if e.role == "support")
    assert support.role_words.fr == "support technique de la plateforme"
    assert support.purpose_words.fr == "maintenance technique"
    identity = next(e for e in entries if e.purpose == "identity_vigilance")
    assert (
        identity.purpose_words.en == "identity checking"
        and identity.action_words.fr == "a consulté votre identité"
    )
    assert {e.lab_name for e in entries} == {"Laboratoire journal des accès"}
    assert {e.lab_id for e in entries} == {scene.bench.lab.id}
    assert {e.action for e in entries if e.break_glass} == {
        "restricted.break_glass",
        "restricted.override_use",
    }
    assert not any(e.action.startswith("alert.") for e in entries), "alerts repeat an access: left out"
    assert not any(REASON in str(e) for e in entries), "the emergency reason stays with the security officer"


def test_never_another_patients_events(scene: Scene) -> None:
    entries = whole_log(scene, scene.staff[Role.BIOLOGIST].ctx())
    neighbour = {
        e.seq for e in audit_events(scene.platform, scene.bench.lab.id) if e.patient_id == scene.neighbour
    }
    mine = {e.seq for e in audit_events(scene.platform, scene.bench.lab.id) if e.patient_id == scene.patient}
    listed = {e.seq for e in entries}
    assert neighbour and not listed & neighbour
    assert listed <= mine
    alert_seqs = {
        e.seq
        for e in audit_events(scene.platform, scene.bench.lab.id, "alert.raise")
        if e.patient_id == scene.patient
    }
    assert listed == mine - alert_seqs, "every access to the patient is listed"


def test_pages_follow_each_other_without_gap_or_overlap(scene: Scene) -> None:
    ctx = context_for(scene.bench.factory.user(scene.bench.lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION)
    first = scene.platform.access_log.for_patient(ctx, scene.patient, limit=3)
    assert len(first.entries) == 3 and first.next_before == first.entries[-1].seq
    assert first.entries[0].role == "lab_admin" and first.entries[0].purpose == "administration"
    pages = [first]
    before: int | None = first.next_before
    while before is not None:
        page = scene.platform.access_log.for_patient(ctx, scene.patient, limit=3, before=before)
        pages.append(page)
        before = page.next_before
    paged = [e.seq for page in pages for e in page.entries]
    whole = [e.seq for e in whole_log(scene, ctx)]
    assert paged == [s for s in whole if s <= first.entries[0].seq], "paging reads the same log"
    assert len(pages[-1].entries) <= 3


def test_who_may_read_the_log(scene: Scene) -> None:
    log = scene.platform.access_log
    for role in (Role.RECEPTION, Role.TECHNICIAN):
        with pytest.raises(Forbidden):
            log.for_patient(scene.staff[role].ctx(), scene.patient)
    with pytest.raises(Forbidden):
        log.for_patient(context_for(scene.operator, Purpose.MAINTENANCE), scene.patient)
    support = scene.platform.support.enter(
        context_for(scene.operator, Purpose.MAINTENANCE), scene.bench.lab.id
    )
    with pytest.raises(Forbidden):
        log.for_patient(support, scene.patient)
    other = Bench.create(scene.platform, "Autre laboratoire")
    with pytest.raises(NotFound):
        log.for_patient(other.biologist, scene.patient)
    with pytest.raises(NotFound):
        log.for_patient(scene.staff[Role.BIOLOGIST].ctx(), uuid.uuid4())
    for bad in ({"limit": 0}, {"limit": 201}, {"before": 0}, {"before": 2**63}):
        with pytest.raises(InvalidInput):
            log.for_patient(scene.staff[Role.BIOLOGIST].ctx(), scene.patient, **bad)
