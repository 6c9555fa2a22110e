"""Row links moved inside the real database (SQLite and PostgreSQL) read as integrity errors.

The probe of issue 10: in a copy of the database, ``UPDATE orders SET patient_id = <another
patient>`` showed that patient an HIV-positive result and a drug that were not theirs, and
repointing ``order_items.current_result_id`` showed another patient's result on an order. Every
bound column (the ones ``test_bound_links_schema.py`` requires, read from the schema) is moved here
one by one with plain SQL, then read through the services: each read must raise IntegrityError
naming the table and row, never return the other patient's data. Each change is undone in a
``finally`` and the same read then succeeds, which proves the failure came from the move.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Table, select, update
from sqlalchemy.exc import DBAPIError

from labvault.crypto.errors import IntegrityError
from labvault.errors import Forbidden
from labvault.governance.incident_data import IncidentDetails, IncidentInput
from labvault.governance.incident_models import IncidentPatient
from labvault.identity.accounts import Account, context_for
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.grant_models import AccessOverride
from labvault.store.base import utcnow
from labvault.store.bound_links import MAC_COLUMN, bound_columns, bound_tables
from labvault.workflow.models import CriticalCall, Order, OrderItem, Report, Result, Specimen
from labvault.workflow.order_data import OrderRecord
from tests.factories import GIVEN_PASSWORD, Bench, own

SECRETS = ("positive", "Truvada", "suivi PrEP")


@dataclass(frozen=True)
class Side:
    """One patient's order, fully worked: HIV (restricted), HGB corrected once, K critical and called."""

    patient: uuid.UUID
    prescriber: uuid.UUID
    order: OrderRecord
    items: dict[str, uuid.UUID]
    results: dict[str, uuid.UUID]  # current result per test code
    first_hgb: uuid.UUID  # the version the correction superseded
    specimen: uuid.UUID


@dataclass(frozen=True)
class World:
    bench: Bench
    a: Side  # released report, break-the-glass override of ``glass`` for this patient
    b: Side  # no report (a report moved onto this order must not clash with one of its own)
    pending: OrderRecord  # received, nothing entered: on the entry worklist
    glass: Account  # a technician who broke the glass for patient A
    other_tech: Account
    report: uuid.UUID
    call: uuid.UUID
    override: uuid.UUID
    officer: AccessContext  # the lab admin, who runs the breach response
    incident: uuid.UUID  # patient A affected (one entry)
    incident_entry: uuid.UUID
    other_incident: uuid.UUID  # patient B affected

    @property
    def platform(self) -> Platform:
        return self.bench.platform

    @property
    def glass_ctx(self) -> AccessContext:
        return context_for(self.glass)


def _side(bench: Bench, hiv: str, drugs: tuple[str, ...], clinical: str | None) -> Side:
    prescriber, _ = bench.physician()
    order = bench.order(
        tests=["HIV", "HGB", "K"], prescriber_id=prescriber, drugs=drugs, clinical_info=clinical
    )
    bench.enter(order, {"HIV": hiv}, bench.biologist)
    bench.enter(order, {"HGB": "13.4", "K": "6.8"})
    first_hgb = bench.result(order.id, "HGB")
    assert first_hgb is not None
    bench.enter(order, {"HGB": "13.5"})  # version 2 supersedes version 1
    items = {code: bench.item_id(order, code) for code in ("HIV", "HGB", "K")}
    bench.platform.results.record_critical_call(bench.biologist, items["K"], "Dr Garnier, médecin", "phone")
    bench.validate(order, ("HIV", "HGB", "K"))
    current = bench.get(order.id)
    results = {code: bench.item(current, code).result.id for code in items}  # type: ignore[union-attr]
    return Side(order.patient_id, prescriber, order, items, results, first_hgb.id, order.specimens[0].id)


@pytest.fixture(scope="module")
def world(platform: Platform) -> World:
    bench = Bench.create(platform, "Laboratoire liens scellés")
    a = _side(bench, "positive", ("Truvada",), "suivi PrEP")
    b = _side(bench, "negative", (), None)
    report = platform.reports.release(bench.biologist, a.order.id).id
    spare = bench.order(tests=["HGB"])  # a second report and override, whose seals are copied
    bench.enter_and_validate(spare, {"HGB": "12.9"})
    platform.reports.release(bench.biologist, spare.id)
    pending = bench.order(tests=["GLU"])
    glass = bench.factory.user(bench.lab, Role.TECHNICIAN)
    other_tech = bench.factory.user(bench.lab, Role.TECHNICIAN)
    fresh = dataclasses.replace(glass, reauthenticated_at=utcnow())
    other_fresh = dataclasses.replace(other_tech, reauthenticated_at=utcnow())
    reason = "Patient aux urgences, appel du SAMU"
    platform.break_glass.open(other_fresh, context_for(other_tech), b.patient, reason)
    override = platform.break_glass.open(fresh, context_for(glass), a.patient, reason)
    with platform.db.owner_engine.connect() as conn:
        call = conn.execute(
            select(CriticalCall.__table__.c.id).where(CriticalCall.__table__.c.result_id == a.results["K"])
        ).scalar_one()
    officer = context_for(bench.factory.user(bench.lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION)
    opened = IncidentInput(utcnow(), ("confidentiality",), IncidentDetails(summary="Fichier divulgué"))
    incident, other_incident = (platform.incidents.open(officer, opened).id for _ in range(2))
    platform.incidents.affected_from_export(officer, incident, _Manifest(uuid.uuid4(), [a.patient]))
    platform.incidents.affected_from_export(officer, other_incident, _Manifest(uuid.uuid4(), [b.patient]))
    with platform.db.owner_engine.connect() as conn:
        entries = _table(IncidentPatient)
        entry = conn.execute(select(entries.c.id).where(entries.c.incident_id == incident)).scalar_one()
    return World(
        bench,
        a,
        b,
        pending,
        glass,
        other_tech,
        report,
        call,
        override.id,
        officer,
        incident,
        entry,
        other_incident,
    )


@dataclass(frozen=True)
class _Manifest:
    """What an export's manifest gives an incident (issue 14 §1 builds the exports)."""

    id: uuid.UUID
    patient_ids: list[uuid.UUID]


# --- moving a value below the services -------------------------------------------------------------


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


@contextmanager
def moved(world: World, model: Any, row_id: uuid.UUID, **values: Any) -> Iterator[None]:
    """``UPDATE <table> SET <values> WHERE id = <row_id>`` as the database owner; undone afterwards."""
    table = _table(model)
    engine = world.platform.db.owner_engine
    with engine.connect() as conn:
        before = dict(conn.execute(select(table).where(table.c.id == row_id)).mappings().one())
    original = {column: before[column] for column in values}
    assert original != values, "the probe must change something"
    with engine.begin() as conn:
        assert conn.execute(update(table).where(table.c.id == row_id).values(values)).rowcount == 1
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == row_id).values(original))


Read = Callable[[World], object]


def refused(world: World, read: Read, table: str, row_id: uuid.UUID) -> None:
    """``read`` raises IntegrityError naming ``table`` (and ``row_id`` when it names one)."""
    with pytest.raises(IntegrityError) as raised:
        read(world)
    message = str(raised.value)
    assert f"{table}.links of row {row_id}" in message, message
    assert not [secret for secret in SECRETS if secret in message], message


# --- the probe, replayed -------------------------------------------------------------------------


def test_order_moved_to_another_patient_shows_them_nothing(world: World) -> None:
    """``UPDATE orders SET patient_id = B``: no read shows B patient A's HIV result or drug."""
    a, b, bio = world.a, world.b, world.bench.biologist
    platform = world.platform
    reads: list[Read] = [
        lambda w: platform.orders.get(bio, a.order.id),
        lambda w: platform.orders.for_patient(bio, b.patient),
        lambda w: platform.reports.history(bio, b.patient),
        lambda w: platform.reports.pdf(bio, a.order.id),
        lambda w: platform.results.versions(bio, a.items["HIV"]),
        lambda w: platform.orders.get(w.glass_ctx, a.order.id),
    ]
    with moved(world, Order, a.order.id, patient_id=b.patient):
        for read in reads:
            refused(world, read, "orders", a.order.id)
    seen = platform.orders.get(bio, a.order.id)
    assert seen.patient_id == a.patient and seen.drugs == ("Truvada",)
    assert not any("Truvada" in o.drugs for o in platform.orders.for_patient(bio, b.patient))
    platform.reports.history(bio, b.patient)
    platform.results.versions(bio, a.items["HIV"])


def test_worklist_line_of_a_moved_order(world: World) -> None:
    order = world.pending
    section = order.items[0].section
    tech = world.bench.technician
    with moved(world, Order, order.id, patient_id=world.b.patient):
        refused(world, lambda w: w.platform.results.worklist(tech, section, "entry"), "orders", order.id)
    assert any(line.order_id == order.id for line in world.platform.results.worklist(tech, section, "entry"))


def test_current_result_repointed_to_another_patients_result(world: World) -> None:
    """``order_items.current_result_id`` -> B's negative HIV result: the order and its history fail
    alike, instead of disagreeing."""
    a, b, bio = world.a, world.b, world.bench.biologist
    item = a.items["HIV"]
    with moved(world, OrderItem, item, current_result_id=b.results["HIV"]):
        refused(world, lambda w: w.platform.orders.get(bio, a.order.id), "order_items", item)
        refused(world, lambda w: w.platform.results.versions(bio, item), "order_items", item)
    shown = world.bench.item(world.platform.orders.get(bio, a.order.id), "HIV").result
    assert shown is not None and shown.value == "positive"


def test_order_moved_to_another_prescriber_opens_no_identity(world: World) -> None:
    """``UPDATE orders SET prescriber_id = <B's physician>``: B's prescriber account neither reads
    patient A's identity nor finds A by name, though the clear link now says A is theirs."""
    admin = world.bench.factory.user(world.bench.lab, Role.LAB_ADMIN)
    account = world.platform.accounts.create_user(
        context_for(admin, Purpose.ADMINISTRATION),
        f"dr{uuid.uuid4().hex[:12]}",
        GIVEN_PASSWORD,
        Role.PRESCRIBER,
        world.bench.lab.id,
        physician_id=world.b.prescriber,
    )
    doctor = context_for(own(world.platform, account))
    patients = world.platform.patients
    a = patients.get(world.bench.reception, world.a.patient).data
    with moved(world, Order, world.a.order.id, prescriber_id=world.b.prescriber):
        refused(world, lambda w: patients.get(doctor, w.a.patient), "orders", world.a.order.id)
        found = lambda w: patients.find_by_name_birth(doctor, a.birth_name, a.birth_date)  # noqa: E731
        refused(world, found, "orders", world.a.order.id)
        refused(world, lambda w: w.platform.reports.history(doctor, w.a.patient), "orders", world.a.order.id)
    # An order with nothing validated yet: the history's own check of the tie refuses it too.
    pending = world.pending
    with moved(world, Order, pending.id, prescriber_id=world.b.prescriber):
        refused(world, lambda w: w.platform.reports.history(doctor, pending.patient_id), "orders", pending.id)
    with pytest.raises(Forbidden):
        patients.get(doctor, world.a.patient)
    with pytest.raises(Forbidden):
        world.platform.reports.history(doctor, world.a.patient)
    assert patients.find_by_name_birth(doctor, a.birth_name, a.birth_date) == []


# --- every bound column, from the schema ------------------------------------------------------------

# (table, column) -> the row moved, its new value, the service read that must fail.
Probe = Callable[[World], tuple[Any, uuid.UUID, Any, Read]]


def _bio(w: World) -> AccessContext:
    return w.bench.biologist


PROBES: dict[tuple[str, str], Probe] = {
    ("orders", "patient_id"): lambda w: (
        Order,
        w.a.order.id,
        w.b.patient,
        lambda w: w.platform.orders.get(_bio(w), w.a.order.id),
    ),
    ("orders", "prescriber_id"): lambda w: (
        Order,
        w.a.order.id,
        w.b.prescriber,
        lambda w: w.platform.orders.get(_bio(w), w.a.order.id),
    ),
    ("order_items", "order_id"): lambda w: (
        OrderItem,
        w.a.items["HIV"],
        w.b.order.id,
        lambda w: w.platform.orders.get(_bio(w), w.b.order.id),
    ),
    ("order_items", "specimen_id"): lambda w: (
        OrderItem,
        w.a.items["HIV"],
        w.b.specimen,
        lambda w: w.platform.orders.get(_bio(w), w.a.order.id),
    ),
    ("order_items", "current_result_id"): lambda w: (
        OrderItem,
        w.a.items["HIV"],
        w.b.results["HIV"],
        lambda w: w.platform.orders.get(_bio(w), w.a.order.id),
    ),
    ("order_items", "restricted"): lambda w: (
        OrderItem,
        w.a.items["HIV"],
        False,
        lambda w: w.platform.orders.get(w.bench.technician, w.a.order.id),
    ),
    ("specimens", "order_id"): lambda w: (
        Specimen,
        w.a.specimen,
        w.b.order.id,
        lambda w: w.platform.orders.get(_bio(w), w.b.order.id),
    ),
    ("results", "order_item_id"): lambda w: (
        Result,
        w.b.results["HGB"],
        w.a.items["HIV"],
        lambda w: w.platform.results.versions(_bio(w), w.a.items["HIV"]),
    ),
    ("results", "supersedes_id"): lambda w: (
        Result,
        w.a.results["HGB"],
        w.b.results["HGB"],
        lambda w: w.platform.results.versions(_bio(w), w.a.items["HGB"]),
    ),
    ("critical_calls", "result_id"): lambda w: (
        CriticalCall,
        w.call,
        w.b.results["HGB"],
        lambda w: w.platform.orders.get(_bio(w), w.b.order.id),
    ),
    ("reports", "order_id"): lambda w: (
        Report,
        w.report,
        w.b.order.id,
        lambda w: w.platform.orders.get(_bio(w), w.b.order.id),
    ),
    ("reports", "restricted"): lambda w: (
        Report,
        w.report,
        False,
        lambda w: w.platform.reports.pdf(w.bench.reception, w.a.order.id),
    ),
    ("reports", "result_ids"): lambda w: (
        Report,
        w.report,
        sorted(str(r) for r in w.b.results.values()),
        lambda w: w.platform.reports.pdf(_bio(w), w.a.order.id),
    ),
    ("access_overrides", "patient_id"): lambda w: (
        AccessOverride,
        w.override,
        w.b.patient,
        lambda w: w.platform.orders.get(w.glass_ctx, w.b.order.id),
    ),
    ("access_overrides", "object_id"): lambda w: (
        AccessOverride,
        w.override,
        w.b.patient,
        lambda w: w.platform.orders.get(w.glass_ctx, w.a.order.id),
    ),
    ("access_overrides", "object_type"): lambda w: (
        AccessOverride,
        w.override,
        "order",
        lambda w: w.platform.orders.get(w.glass_ctx, w.a.order.id),
    ),
    ("breach_incident_patients", "incident_id"): lambda w: (
        IncidentPatient,
        w.incident_entry,
        w.other_incident,
        lambda w: w.platform.incidents.affected(w.officer, w.other_incident),
    ),
    ("breach_incident_patients", "patient_id"): lambda w: (
        IncidentPatient,
        w.incident_entry,
        w.b.patient,
        lambda w: w.platform.incidents.affected(w.officer, w.incident),
    ),
    ("access_overrides", "actor_id"): lambda w: (
        AccessOverride,
        w.override,
        w.other_tech.id,
        lambda w: w.platform.orders.get(context_for(w.other_tech), w.a.order.id),
    ),
}


def _bound_pairs() -> list[tuple[str, str]]:
    return sorted((table.name, column) for table in bound_tables() for column in bound_columns(table))


def test_every_bound_column_has_a_probe() -> None:
    """A column bound later gets its probe here, or this fails."""
    assert sorted(PROBES) == _bound_pairs()


@pytest.mark.parametrize("pair", sorted(PROBES), ids=lambda pair: ".".join(pair))
def test_moving_a_bound_column_is_an_integrity_error(world: World, pair: tuple[str, str]) -> None:
    table, column = pair
    model, row_id, value, read = PROBES[pair](world)
    with moved(world, model, row_id, **{column: value}):
        refused(world, read, table, row_id)
    read_back(world, read)


def read_back(world: World, read: Read) -> None:
    """Put back, the same read passes the seal: it answers, or refuses by policy (reception and a
    restricted report), never with an integrity error."""
    with suppress(Forbidden):
        read(world)


def _column(table: str, column: str) -> Any:
    return next(t for t in bound_tables() if t.name == table).c[column]


NULLABLE = [pair for pair in _bound_pairs() if _column(*pair).nullable]
# An override is looked up by its actor and patient: without them it is found by no one, so it
# opens nothing (the restricted tests stay hidden) rather than failing.
LOOKED_UP_BY = {("access_overrides", "actor_id"), ("access_overrides", "patient_id")}


@pytest.mark.parametrize("pair", NULLABLE, ids=lambda pair: ".".join(pair))
def test_a_bound_link_set_to_null_is_an_integrity_error(world: World, pair: tuple[str, str]) -> None:
    """Absence is data too: a link erased where one was sealed fails like a moved one."""
    table, column = pair
    model, row_id, _value, read = PROBES[pair](world)
    with moved(world, model, row_id, **{column: None}):
        if pair in LOOKED_UP_BY:
            seen = world.platform.orders.get(world.glass_ctx, world.a.order.id)
            assert seen.hidden_items == 1 and "HIV" not in {i.test_code for i in seen.items}
        else:
            refused(world, read, table, row_id)
    read(world)


SEALED_ROWS: dict[str, Callable[[World], tuple[Any, uuid.UUID, Read]]] = {
    "orders": lambda w: (Order, w.a.order.id, lambda w: w.platform.orders.get(_bio(w), w.a.order.id)),
    "order_items": lambda w: (
        OrderItem,
        w.a.items["HIV"],
        lambda w: w.platform.orders.get(_bio(w), w.a.order.id),
    ),
    "specimens": lambda w: (Specimen, w.a.specimen, lambda w: w.platform.orders.get(_bio(w), w.a.order.id)),
    "results": lambda w: (Result, w.a.results["HIV"], lambda w: w.platform.orders.get(_bio(w), w.a.order.id)),
    "critical_calls": lambda w: (
        CriticalCall,
        w.call,
        lambda w: w.platform.orders.get(_bio(w), w.a.order.id),
    ),
    "reports": lambda w: (Report, w.report, lambda w: w.platform.reports.pdf(_bio(w), w.a.order.id)),
    "access_overrides": lambda w: (
        AccessOverride,
        w.override,
        lambda w: w.platform.orders.get(w.glass_ctx, w.a.order.id),
    ),
    "breach_incident_patients": lambda w: (
        IncidentPatient,
        w.incident_entry,
        lambda w: w.platform.incidents.affected(w.officer, w.incident),
    ),
}


def test_every_bound_table_has_a_seal_probe() -> None:
    assert sorted(SEALED_ROWS) == sorted(table.name for table in bound_tables())


@pytest.mark.parametrize("table", sorted(SEALED_ROWS))
def test_a_missing_or_copied_seal_is_an_integrity_error(world: World, table: str) -> None:
    """A lab created with bound links has no legacy rows: a NULL seal is tampering, and a seal
    copied from another row of the same table does not fit (the row id is sealed)."""
    model, row_id, read = SEALED_ROWS[table](world)
    with moved(world, model, row_id, **{MAC_COLUMN: None}):
        with pytest.raises(IntegrityError) as raised:
            read(world)
        assert f"link seal missing (NULL) in {table}.links of row {row_id}" in str(raised.value)
    sealed = _table(model)
    with world.platform.db.owner_engine.connect() as conn:
        other = conn.execute(
            select(sealed.c[MAC_COLUMN])
            .where(sealed.c.id != row_id, sealed.c[MAC_COLUMN].is_not(None))
            .limit(1)
        ).scalar_one()
    with moved(world, model, row_id, **{MAC_COLUMN: other}):
        refused(world, read, table, row_id)
    read(world)


def test_a_restricted_flag_stored_in_a_form_sql_does_not_match_still_hides(world: World) -> None:
    """SQLite keeps whatever integer is written in a boolean column: ``restricted = 2`` reads as
    true in Python (so its seal still matches) but not as ``IS 1`` in SQL. The order view decides
    what is hidden from the items as loaded, so the HIV test and the context stay behind the glass."""
    engine = world.platform.db.owner_engine
    if engine.dialect.name != "sqlite":  # PostgreSQL's boolean column holds no third value
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE order_items SET restricted = 2 WHERE id = %s", (world.a.items["HIV"],)
            )
        return
    technician = context_for(world.other_tech)
    item = world.a.items["HIV"].hex  # SQLite's uuid form
    with engine.begin() as conn:  # below SQLAlchemy's Boolean, which would refuse the 2
        conn.exec_driver_sql("UPDATE order_items SET restricted = 2 WHERE id = ?", (item,))
    try:
        seen = world.platform.orders.get(technician, world.a.order.id)
        assert "HIV" not in {item.test_code for item in seen.items} and seen.hidden_items == 1
        assert seen.clinical_info is None and seen.drugs == () and seen.clinical_context_withheld
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE order_items SET restricted = 1 WHERE id = ?", (item,))
