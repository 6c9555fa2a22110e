"""The laboratory workflow on the real service path, each step against a plaintext baseline timed in
the same run, on the same engine.

(a) ``ResultService.enter``: one batch of 1,000 results (parsed, flagged against the patient's
    range, delta-checked against the patient's previous validated result, sealed in five encrypted
    columns, one audit event each), one transaction. Baseline: the same number of result rows, with
    the same columns in clear (value, flag, interpretation JSON as the service computes them), into
    ``bench_plain_results`` with one Core ``executemany``, one transaction.
(b) ``ResultService.validate_biological`` on a worklist of 300 technically validated results,
    some of them critical values whose calls were recorded first. Baseline: one plain
    ``UPDATE bench_plain_results SET status ... WHERE id IN (300 ids)``, one transaction.
(c) Reports of 20 results: ``ReportService.release`` end to end (view, PDF, encryption, audit) and
    ``render_report_pdf`` on the view the service builds, against ``render_report_html`` of the
    same view (the ratio is the cost of the PDF layout).

Every order holds the same 20 tests (NFS, ionogramme, creatinine, glucose) for one adult patient
(born 1950-2000, no NIR), prescribed by one physician. Each patient first gets a history order,
entered and validated (the untimed warm-up), so that every later result has a previous value to be
delta-checked against. Orders, tube reception, technical validation and critical calls are set up
untimed between the timed steps; the two timed paths alternate, and which goes first alternates too.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    insert,
    select,
    update,
)

from benchmarks.common import (
    BENCH_PASSWORD,
    BenchEnv,
    Progress,
    alternate,
    bench_platform,
    generate_patients,
    latency_summary,
    log,
)
from labvault.catalog.model import Catalog, Sex, TestDefinition
from labvault.catalog.ranges import age_in_days, select_range
from labvault.identity.accounts import context_for
from labvault.identity.patient_data import PatientData
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_rpps
from labvault.reports.render import render_report_html, render_report_pdf
from labvault.reports.view import ReportView
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.permissions import Permission
from labvault.workflow import report_service
from labvault.workflow.models import Order, OrderItem, Result, Specimen
from labvault.workflow.order_codec import seal_order
from labvault.workflow.order_data import OrderRecord, OrderRequest
from labvault.workflow.orders import load_order
from labvault.workflow.result_codec import seal_result
from labvault.workflow.result_entry import ResultEntry
from labvault.workflow.result_values import CRITICAL_FLAGS, Previous, interpret
from labvault.workflow.specimen_codec import barcode_index, seal_barcode, seal_rejection_comment

PANELS = ("NFS", "IONO")
TESTS = ("CREA", "GLU")
ITEMS_PER_ORDER = 20  # 13 (NFS) + 5 (IONO) + 2
PLAIN_RESULTS = "bench_plain_results"
CRITICAL_SHARE = 0.05  # of the results of tests that have critical limits (8 of the 20): ~2% overall
ABNORMAL_SHARE = 0.22
GOAL_ENTRY_S = 2.0
GOAL_ENTRY_BATCH = 1_000
GOAL_VALIDATION_S = 1.0
GOAL_WORKLIST = 300
GOAL_BACKEND = "sqlite"


@dataclass(frozen=True)
class WorkflowConfig:
    batch: int = 1_000  # results per ``enter`` call (a multiple of 20: whole orders)
    repeats: int = 10  # timed entry batches
    worklist: int = 300  # results per ``validate_biological`` call
    worklists: int = 20  # timed validations
    reports: int = 30  # timed releases (and renders)
    report_warmup: int = 2  # untimed first releases and renders (fonts, templates, WeasyPrint import)
    seed: int = 20_240_604
    history_depth: int = 20  # validated earlier orders per patient for the history test (0: skip it)
    history_pairs: int = 5  # timed entry batches at depth 1 and at ``history_depth``, alternating
    lab_sizes: tuple[int, ...] = (100_000, 300_000, 1_000_000)  # results in the lab for the size test
    size_batches: int = 3  # timed entry batches and worklists at each lab size
    profile: bool = False  # also cProfile one more batch, worklist and a few releases


@dataclass
class Staff:
    reception: AccessContext
    technician: AccessContext
    biologist: AccessContext


@dataclass
class Person:
    id: uuid.UUID
    sex: Sex | None
    age_days: int


@dataclass
class Prepared:
    """One batch of orders, received and ready for entry, with its entries and their plain rows."""

    orders: list[OrderRecord]
    entries: list[ResultEntry]
    plain_rows: list[dict[str, Any]]


def _timed(action: Callable[[], Any]) -> int:
    started = time.perf_counter_ns()
    action()
    return time.perf_counter_ns() - started


# --- people and data -------------------------------------------------------------------------------


def _adults(count: int, seed: int, progress: Progress) -> list[PatientData]:
    """Synthetic identities made adult (born 1950-2000) and without NIR/INS, so that no NIR has
    to agree with a changed birth date."""
    rng = random.Random(seed)
    first, last = dt.date(1950, 1, 1).toordinal(), dt.date(2000, 12, 31).toordinal()
    return [
        replace(
            person,
            birth_date=dt.date.fromordinal(rng.randint(first, last)),
            nir=None,
            ins=None,
            ins_oid=None,
            ins_status=None,
        )
        for person in generate_patients(count, seed, progress)
    ]


def _staff(env: BenchEnv) -> Staff:
    """A technician and a biologist in the benchmark lab, created by its admin."""
    platform, lab_id = env.platform, env.ctx.lab_id
    assert lab_id is not None
    admin = platform.accounts.by_username("bench.bench1.admin")
    admin_ctx = context_for(admin, Purpose.ADMINISTRATION, "benchmark")
    people = {
        role: platform.accounts.create_user(admin_ctx, f"bench.{role.value}", BENCH_PASSWORD, role, lab_id)
        for role in (Role.TECHNICIAN, Role.BIOLOGIST)
    }
    return Staff(
        env.ctx,
        context_for(people[Role.TECHNICIAN], Purpose.CARE, "benchmark"),
        context_for(people[Role.BIOLOGIST], Purpose.CARE, "benchmark"),
    )


def _limits(test: TestDefinition, sex: Sex | None, age_days: int) -> tuple[float | None, float | None]:
    chosen = select_range(test, sex, age_days)
    return (chosen.low, chosen.high) if chosen is not None else (None, None)


def _value(test: TestDefinition, person: Person, rng: random.Random) -> str:
    """A typed-in value: mostly within the patient's range, some out of it, a few critical."""
    low, high = _limits(test, person.sex, person.age_days)
    crit_low = test.critical.low if test.critical else None
    crit_high = test.critical.high if test.critical else None
    draw = rng.random()
    if draw < CRITICAL_SHARE and (crit_low is not None or crit_high is not None):
        if crit_high is not None and (crit_low is None or rng.random() < 0.5):
            number = crit_high * rng.uniform(1.05, 1.3)
        else:
            number = (crit_low or 0.0) * rng.uniform(0.6, 0.9)
    elif draw < CRITICAL_SHARE + ABNORMAL_SHARE and (low is not None or high is not None):
        if high is not None and (low is None or rng.random() < 0.5):
            top = crit_high if crit_high is not None else high * 1.6
            number = high + (top - high) * rng.uniform(0.1, 0.6)
        else:
            assert low is not None
            bottom = crit_low if crit_low is not None else low * 0.5
            number = low - (low - bottom) * rng.uniform(0.1, 0.6)
    elif low is not None and high is not None:
        number = rng.uniform(low, high)
    elif high is not None:
        number = high * rng.uniform(0.2, 0.95)
    else:
        number = (low or 1.0) * rng.uniform(1.05, 1.6)
    decimals = test.decimals if test.decimals is not None else 2
    limits = test.plausible_limits  # a draw's far tail would be refused at entry: keep it plausible
    return f"{min(max(number, limits.low), limits.high):.{decimals}f}"


# --- plaintext baseline ----------------------------------------------------------------------------


def create_plain_results(engine: Engine) -> Table:
    """``results`` with every sealed column as clear text, indexed like it (lab, lab+item+version)
    and with the same foreign keys, in the platform's own database."""
    metadata = MetaData()
    Table("labs", metadata, Column("id", Uuid, primary_key=True))
    Table("order_items", metadata, Column("id", Uuid, primary_key=True))
    table = Table(
        PLAIN_RESULTS,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("lab_id", Uuid, ForeignKey("labs.id"), nullable=False),
        Column("order_item_id", Uuid, ForeignKey("order_items.id"), nullable=False),
        Column("version", Integer, nullable=False),
        Column("supersedes_id", Uuid, ForeignKey(f"{PLAIN_RESULTS}.id"), nullable=True),
        Column("status", String(16), nullable=False),
        Column("value", Text),
        Column("flag", Text),
        Column("comment", Text),
        Column("interpretation", Text),
        Column("correction_reason", Text),
        Column("entered_by", Uuid),
        Column("entered_at", DateTime(timezone=True), nullable=False),
        Column("tech_validated_by", Uuid),
        Column("tech_validated_at", DateTime(timezone=True)),
        Column("bio_validated_by", Uuid),
        Column("bio_validated_at", DateTime(timezone=True)),
        Index(f"ix_{PLAIN_RESULTS}_lab_id", "lab_id"),
        Index(f"ix_{PLAIN_RESULTS}_item_version", "lab_id", "order_item_id", "version", unique=True),
    )
    table.create(engine)
    return table


def _plain_row(
    lab_id: uuid.UUID,
    actor: uuid.UUID | None,
    item_id: uuid.UUID,
    test: TestDefinition,
    raw: str,
    person: Person,
    previous: Previous | None,
    today: dt.date,
) -> dict[str, Any]:
    """The clear row the service would seal: the value, flag and interpretation it computes (pure
    functions, run here before any timing)."""
    found = interpret("value", test, raw, person.sex, person.age_days, previous, today)
    return {
        "id": uuid.uuid4(),
        "lab_id": lab_id,
        "order_item_id": item_id,
        "version": 1,
        "supersedes_id": None,
        "status": "entered",
        "value": found.value,
        "flag": found.flag,
        "comment": None,
        "interpretation": json.dumps(found.interpretation, sort_keys=True, separators=(",", ":")),
        "correction_reason": None,
        "entered_by": actor,
        "tech_validated_by": None,
        "tech_validated_at": None,
        "bio_validated_by": None,
        "bio_validated_at": None,
    }


def plain_insert(engine: Engine, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Raw plaintext insert: one transaction, one Core executemany."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(insert(table), [{**row, "entered_at": now} for row in rows])


def plain_validate(
    engine: Engine, table: Table, ids: Sequence[uuid.UUID], actor: uuid.UUID | None, stage: str
) -> None:
    """Raw plaintext status change: one UPDATE ... WHERE id IN (...), one transaction."""
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = (
        {"status": "validated", "bio_validated_by": actor, "bio_validated_at": now}
        if stage == "biological"
        else {"status": "tech_validated", "tech_validated_by": actor, "tech_validated_at": now}
    )
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id.in_(list(ids))).values(**values))


# --- the workload ----------------------------------------------------------------------------------


class Workload:
    """The lab, its staff, patients and physician, and the state of every item the run created."""

    def __init__(self, env: BenchEnv, people: Sequence[PatientData], seed: int, progress: Progress) -> None:
        self.env = env
        self.platform = env.platform
        self.progress = progress
        self.rng = random.Random(seed)
        self.staff = _staff(env)
        assert env.ctx.lab_id is not None
        self.lab_id = env.ctx.lab_id
        self.catalog: Catalog = self.platform.catalogs.active(self.lab_id)
        self.table = create_plain_results(self.platform.db.owner_engine)
        ctx = self.staff.reception
        rpps = generate_rpps(random.Random(seed))
        self.prescriber = self.platform.physicians.register(
            ctx, PhysicianData(rpps=rpps, family_name="Martin", given_names="Claire", specialty="généraliste")
        ).id
        self.people = self.register(people)
        self.previous: dict[tuple[uuid.UUID, str], Previous] = {}
        self.plain_ids: dict[uuid.UUID, uuid.UUID] = {}  # order item -> its plain baseline row
        self.order_of: dict[uuid.UUID, uuid.UUID] = {}  # order item -> order
        self.critical_items: set[uuid.UUID] = set()  # items whose current result is critical
        self.setup_ns = {"orders": 0, "receive": 0, "orders_n": 0, "tubes_n": 0}

    def register(self, people: Sequence[PatientData]) -> list[Person]:
        ids = self.platform.patients.register_many(self.staff.reception, people)
        today = dt.datetime.now(dt.UTC).date()
        sexes: dict[str, Sex] = {"M": "M", "F": "F"}
        return [
            Person(pid, sexes.get(data.sex), age_in_days(data.birth_date, today))
            for pid, data in zip(ids, people, strict=True)
        ]

    def prepare(self, group: Sequence[Person] | None = None) -> Prepared:
        """One order per patient, every tube received, and the entries typed in (untimed)."""
        platform, ctx = self.platform, self.staff.reception
        people = self.people if group is None else group
        orders: list[OrderRecord] = []
        started = time.perf_counter_ns()
        for person in people:
            order = platform.orders.create(
                ctx,
                OrderRequest(
                    patient_id=person.id,
                    panels=PANELS,
                    tests=TESTS,
                    prescriber_id=self.prescriber,
                    prescribed_on=dt.datetime.now(dt.UTC).date(),
                    fasting=True,
                ),
            )
            if len(order.items) != ITEMS_PER_ORDER:
                raise AssertionError(f"an order holds {len(order.items)} items, not {ITEMS_PER_ORDER}")
            orders.append(order)
        received = time.perf_counter_ns()
        for order in orders:
            for specimen in order.specimens:
                platform.specimens.receive(ctx, specimen.barcode)
        self.setup_ns["orders"] += received - started
        self.setup_ns["receive"] += time.perf_counter_ns() - received
        self.setup_ns["orders_n"] += len(orders)
        self.setup_ns["tubes_n"] += sum(len(order.specimens) for order in orders)
        today = dt.datetime.now(dt.UTC).date()
        entries: list[ResultEntry] = []
        rows: list[dict[str, Any]] = []
        for person, order in zip(people, orders, strict=True):
            for item in order.items:
                test = self.catalog.test(item.test_code)
                raw = _value(test, person, self.rng)
                entries.append(ResultEntry(item.id, raw))
                previous = self.previous.get((person.id, item.test_code))
                row = _plain_row(
                    self.lab_id, self.staff.technician.actor_id, item.id, test, raw, person, previous, today
                )
                rows.append(row)
                self.plain_ids[item.id] = row["id"]
                self.order_of[item.id] = order.id
        return Prepared(orders, entries, rows)

    def enter(self, batch: Prepared) -> list[uuid.UUID]:
        """The timed service call; returns the items whose result is critical."""
        summaries = self.platform.results.enter(self.staff.technician, batch.entries)
        if len(summaries) != len(batch.entries):
            raise AssertionError(f"enter returned {len(summaries)} results for {len(batch.entries)} entries")
        return [e.item_id for e, s in zip(batch.entries, summaries, strict=True) if s.flag in CRITICAL_FLAGS]

    def technical(self, batch: Prepared, critical: Sequence[uuid.UUID]) -> None:
        """Technical validation of the whole batch and the calls of its critical values (untimed)."""
        items = [entry.item_id for entry in batch.entries]
        self.platform.results.validate_technical(self.staff.technician, items)
        plain_validate(
            self.platform.db.owner_engine,
            self.table,
            [self.plain_ids[i] for i in items],
            self.staff.technician.actor_id,
            "technical",
        )
        self.critical_items.update(critical)
        for item_id in critical:
            self.platform.results.record_critical_call(
                self.staff.technician, item_id, "Dr Martin, médecin traitant", "phone", "rappel à 10 min"
            )

    def biological(self, items: Sequence[uuid.UUID]) -> None:
        self.platform.results.validate_biological(self.staff.biologist, items)

    def plain_biological(self, items: Sequence[uuid.UUID]) -> None:
        plain_validate(
            self.platform.db.owner_engine,
            self.table,
            [self.plain_ids[i] for i in items],
            self.staff.biologist.actor_id,
            "biological",
        )

    def settle(self, batch: Prepared, chunk: int) -> None:
        """Enter, validate on both levels (calls recorded): the batch becomes patients' history."""
        critical = self.enter(batch)
        self.technical(batch, critical)
        items = [entry.item_id for entry in batch.entries]
        for start in range(0, len(items), chunk):
            self.biological(items[start : start + chunk])

    def remember_previous(self, batch: Prepared) -> None:
        """After the history batch is validated: what the next results are delta-checked against."""
        today = dt.datetime.now(dt.UTC).date()
        for person, order, start in zip(
            self.people, batch.orders, range(0, len(batch.entries), ITEMS_PER_ORDER), strict=True
        ):
            for item, entry in zip(order.items, batch.entries[start : start + ITEMS_PER_ORDER], strict=True):
                test = self.catalog.test(item.test_code)
                shown = interpret("value", test, entry.value, person.sex, person.age_days, None, today).value
                self.previous[(person.id, item.test_code)] = Previous(shown, today, str(uuid.uuid4()))

    def report_view(self, order_id: uuid.UUID) -> ReportView:
        """The view ``release`` rendered for this order's latest report, as the service builds it."""
        service = self.platform.reports
        with service._unit(self.staff.biologist, Permission.REPORT_RELEASE) as unit:
            report = service._report(unit, order_id, None)
            order = load_order(unit, order_id)
            items = report_service._items(unit, order.id)
            return service._view(unit, order, items, report, service._context(unit, order, items, report))


# --- the three measures ----------------------------------------------------------------------------


def _pair(number: int, service: Callable[[], Any], plain: Callable[[], Any]) -> tuple[int, int]:
    """Time the service path and its baseline with ``alternate``: (service ns, baseline ns)."""
    return alternate(number, lambda: _timed(service), lambda: _timed(plain))


Entered = list[tuple[Prepared, list[uuid.UUID]]]


def _entry(work: Workload, config: WorkflowConfig) -> tuple[dict[str, Any], Entered]:
    enc_ns: list[int] = []
    plain_ns: list[int] = []
    done: Entered = []
    engine = work.platform.db.owner_engine
    for number in range(1, config.repeats + 1):
        batch = work.prepare()
        critical: list[uuid.UUID] = []

        def encrypted(b: Prepared = batch, out: list[uuid.UUID] = critical) -> None:
            out.extend(work.enter(b))

        def plain(b: Prepared = batch) -> None:
            plain_insert(engine, work.table, b.plain_rows)

        enc_time, plain_time = _pair(number, encrypted, plain)
        enc_ns.append(enc_time)
        plain_ns.append(plain_time)
        done.append((batch, critical))
        work.progress(
            f"results entry {number}/{config.repeats}: {len(batch.entries):,} results in "
            f"{enc_time / 1e9:.3f} s (plain {plain_time / 1e9:.3f} s), {len(critical)} critical"
        )
    enc, plain_summary = latency_summary(enc_ns), latency_summary(plain_ns)
    size = len(done[0][0].entries)
    return {
        "batch": size,
        "repeats": config.repeats,
        "patients": len(work.people),
        "critical_per_batch": sum(len(critical) for _, critical in done) / len(done),
        "encrypted": enc,
        "plain": plain_summary,
        "encrypted_us_per_result": enc["p50_ms"] * 1e3 / size,
        "plain_us_per_result": plain_summary["p50_ms"] * 1e3 / size,
        "encrypted_results_per_s": size / (enc["p50_ms"] / 1e3),
        "plain_results_per_s": size / (plain_summary["p50_ms"] / 1e3),
        "ratio_p50": enc["p50_ms"] / plain_summary["p50_ms"],
    }, done


def _validation(work: Workload, config: WorkflowConfig, items: Sequence[uuid.UUID]) -> dict[str, Any]:
    enc_ns: list[int] = []
    plain_ns: list[int] = []
    critical_counts: list[int] = []
    for number in range(1, config.worklists + 1):
        worklist = items[(number - 1) * config.worklist : number * config.worklist]

        def encrypted(w: Sequence[uuid.UUID] = worklist) -> None:
            work.biological(w)

        def plain(w: Sequence[uuid.UUID] = worklist) -> None:
            work.plain_biological(w)

        enc_time, plain_time = _pair(number, encrypted, plain)
        enc_ns.append(enc_time)
        plain_ns.append(plain_time)
        critical_counts.append(sum(1 for i in worklist if i in work.critical_items))
    work.progress(f"biological validation: {config.worklists} worklists of {config.worklist:,} results")
    enc, plain_summary = latency_summary(enc_ns), latency_summary(plain_ns)
    return {
        "worklist": config.worklist,
        "repeats": config.worklists,
        "critical_per_worklist": sum(critical_counts) / len(critical_counts),
        "encrypted": enc,
        "plain": plain_summary,
        "encrypted_us_per_result": enc["p50_ms"] * 1e3 / config.worklist,
        "plain_us_per_result": plain_summary["p50_ms"] * 1e3 / config.worklist,
        "ratio_p50": enc["p50_ms"] / plain_summary["p50_ms"],
    }


def _reports(work: Workload, config: WorkflowConfig, orders: Sequence[uuid.UUID]) -> dict[str, Any]:
    """Release each order's report, then render the view it was built from, PDF and HTML alternating."""
    biologist = work.staff.biologist
    release_ns: list[int] = []
    pdf_ns: list[int] = []
    html_ns: list[int] = []
    sizes: list[int] = []
    for number, order_id in enumerate(orders, 1 - config.report_warmup):

        def release(o: uuid.UUID = order_id) -> None:
            work.platform.reports.release(biologist, o)

        released = _timed(release)
        view = work.report_view(order_id)
        if len(view.lines) != ITEMS_PER_ORDER:
            raise AssertionError(f"the report shows {len(view.lines)} results, not {ITEMS_PER_ORDER}")
        out: list[bytes] = []

        def pdf(v: ReportView = view, into: list[bytes] = out) -> None:
            into.append(render_report_pdf(v))

        def html(v: ReportView = view) -> None:
            render_report_html(v)

        pdf_time, html_time = _pair(number, pdf, html)
        if number > 0:  # the first ones are the warm-up
            release_ns.append(released)
            pdf_ns.append(pdf_time)
            html_ns.append(html_time)
            sizes.append(len(out[0]))
    work.progress(f"reports: {len(release_ns)} releases and renders of {ITEMS_PER_ORDER} results")
    rel, pdf_summary, html_summary = (
        latency_summary(release_ns),
        latency_summary(pdf_ns),
        latency_summary(html_ns),
    )
    return {
        "results_per_report": ITEMS_PER_ORDER,
        "reports": len(release_ns),
        "warmup": config.report_warmup,
        "release": rel,
        "render_pdf": pdf_summary,
        "render_html": html_summary,
        "release_per_s": 1e3 / rel["p50_ms"],
        "pdf_per_s": 1e3 / pdf_summary["p50_ms"],
        "html_per_s": 1e3 / html_summary["p50_ms"],
        "pdf_bytes_p50": sorted(sizes)[len(sizes) // 2],
        "ratio_pdf_html_p50": pdf_summary["p50_ms"] / html_summary["p50_ms"],
        "ratio_release_html_p50": rel["p50_ms"] / html_summary["p50_ms"],
    }


def _history(work: Workload, config: WorkflowConfig, people: Sequence[PatientData]) -> dict[str, Any]:
    """Entry cost against the depth of the patients' history: two new groups of patients, one with
    one validated earlier order each, one with ``history_depth``; their batches alternate."""
    half = len(people) // 2
    groups = {1: work.register(people[:half]), config.history_depth: work.register(people[half:])}
    for depth, group in groups.items():
        for _ in range(depth):
            work.settle(work.prepare(group), config.worklist)
    work.progress(
        f"history: {half} patients with 1 validated earlier order, {half} with {config.history_depth}"
    )
    shallow_ns: list[int] = []
    deep_ns: list[int] = []
    for number in range(1, config.history_pairs + 1):
        shallow_batch, deep_batch = work.prepare(groups[1]), work.prepare(groups[config.history_depth])

        def shallow(b: Prepared = shallow_batch) -> None:
            work.enter(b)

        def deep(b: Prepared = deep_batch) -> None:
            work.enter(b)

        shallow_time, deep_time = _pair(number, shallow, deep)
        shallow_ns.append(shallow_time)
        deep_ns.append(deep_time)
        work.progress(
            f"history {number}/{config.history_pairs}: enter {shallow_time / 1e9:.3f} s at depth 1, "
            f"{deep_time / 1e9:.3f} s at depth {config.history_depth}"
        )
    shallow_summary, deep_summary = latency_summary(shallow_ns), latency_summary(deep_ns)
    return {
        "batch": half * ITEMS_PER_ORDER,
        "depth": config.history_depth,
        "pairs": config.history_pairs,
        "shallow": shallow_summary,
        "deep": deep_summary,
        "growth_p50": deep_summary["p50_ms"] / shallow_summary["p50_ms"],
    }


FILL_ORDERS = 500  # orders per filler transaction (10,000 results)
RESULTS_PER_FILLER_PATIENT = 50  # about 2.5 orders of 20 results per patient


class Filler:
    """Other patients' validated orders (4 tubes, 20 results each, sealed with the lab's keys like
    the service seals them), written with Core in bulk: the service would take hours to build a
    lab of a million results. Untimed; it only makes the tables as large as a real lab's."""

    def __init__(self, work: Workload, seed: int) -> None:
        self.work = work
        self.rng = random.Random(seed)
        self.patients: list[uuid.UUID] = []
        self.serial = 0
        plan = [work.catalog.test(code) for panel in PANELS for code in work.catalog.panel(panel).tests]
        self.tests = plan + [work.catalog.test(code) for code in TESTS]

    def results_in_lab(self) -> int:
        with self.work.platform.db.owner_engine.connect() as conn:
            count = conn.scalar(
                select(func.count()).select_from(Result).where(Result.lab_id == self.work.lab_id)
            )
        return int(count or 0)

    def grow(self, target: int, patients: Sequence[PatientData]) -> int:
        """Add orders until the lab holds ``target`` results; returns the count reached."""
        work, lab_id = self.work, self.work.lab_id
        have = self.results_in_lab()
        wanted_patients = target // RESULTS_PER_FILLER_PATIENT
        if wanted_patients > len(self.patients):
            extra = patients[len(self.patients) : wanted_patients]
            for start in range(0, len(extra), 1_000):
                self.patients += work.platform.patients.register_many(
                    work.staff.reception, extra[start : start + 1_000]
                )
        with work.platform.db.transaction(lab_id) as session:
            keys = work.platform.keys.keyset(session, lab_id)
        while have < target:
            orders: list[dict[str, Any]] = []
            specimens: list[dict[str, Any]] = []
            items: list[dict[str, Any]] = []
            results: list[dict[str, Any]] = []
            for _ in range(FILL_ORDERS):
                self.serial += 1
                at = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.rng.randint(8, 730))
                order_id = uuid.uuid4()
                sealed_order = seal_order(
                    keys, order_id, prescribed_on=None, fasting=None, clinical_info=None, drugs=None
                )
                orders.append(
                    {
                        "id": order_id,
                        "lab_id": lab_id,
                        "accession": f"F{self.serial:09d}",
                        "patient_id": self.rng.choice(self.patients),
                        "prescriber_id": work.prescriber,
                        "urgent": False,
                        "catalog_version": work.catalog.version,
                        "created_by": None,
                        "created_at": at,
                        **sealed_order,
                    }
                )
                tubes: dict[str, uuid.UUID] = {}
                for test in self.tests:
                    if test.tube not in tubes:
                        tubes[test.tube] = specimen_id = uuid.uuid4()
                        barcode = f"{self.rng.randrange(10**12):012d}"
                        specimens.append(
                            {
                                "id": specimen_id,
                                "lab_id": lab_id,
                                "order_id": order_id,
                                "barcode_enc": seal_barcode(keys, specimen_id, barcode),
                                "barcode_bidx": barcode_index(keys, barcode),
                                "tube": test.tube,
                                "specimen": test.specimen,
                                "status": "received",
                                "collected_at": at,
                                "received_at": at,
                                "rejection_comment_enc": seal_rejection_comment(keys, specimen_id, None),
                                "created_at": at,
                            }
                        )
                for position, test in enumerate(self.tests):
                    item_id, result_id = uuid.uuid4(), uuid.uuid4()
                    items.append(
                        {
                            "id": item_id,
                            "lab_id": lab_id,
                            "order_id": order_id,
                            "test_code": test.code,
                            "panel_code": None,
                            "section": test.section,
                            "tube": test.tube,
                            "nabm": test.nabm,
                            "nabm_b": test.nabm_b,
                            "restricted": False,
                            "calculated": False,
                            "position": position,
                            "status": "validated",
                            "specimen_id": tubes[test.tube],
                            "current_result_id": result_id,
                        }
                    )
                    interpretation = {"unit": test.unit, "range": None, "previous": None, "delta": None}
                    results.append(
                        {
                            "id": result_id,
                            "lab_id": lab_id,
                            "order_item_id": item_id,
                            "version": 1,
                            "supersedes_id": None,
                            "status": "validated",
                            "entered_by": work.staff.technician.actor_id,
                            "entered_at": at,
                            "tech_validated_by": work.staff.technician.actor_id,
                            "tech_validated_at": at,
                            "bio_validated_by": work.staff.biologist.actor_id,
                            "bio_validated_at": at,
                            **seal_result(keys, result_id, "5.0", "N", None, interpretation, None),
                        }
                    )
            tables: list[tuple[Any, list[dict[str, Any]]]] = [
                (Order, orders),
                (Specimen, specimens),
                (OrderItem, items),
                (Result, results),
            ]
            with work.platform.db.owner_engine.begin() as conn:
                for model, rows in tables:
                    conn.execute(insert(model), rows)
            have += len(results)
        return have


def _lab_sizes(work: Workload, config: WorkflowConfig, people: Sequence[PatientData]) -> list[dict[str, Any]]:
    """Entry (1,000 results) and biological validation (300) as the lab grows: at each size a new
    group of patients, each with one validated earlier order, enters ``size_batches`` batches."""
    filler = Filler(work, config.seed)
    patients = config.batch // ITEMS_PER_ORDER
    groups = [people[i * patients : (i + 1) * patients] for i in range(len(config.lab_sizes) + 1)]
    fill_people = people[len(groups) * patients :]
    measured: list[dict[str, Any]] = []
    for index, target in enumerate((0, *config.lab_sizes)):
        size = filler.grow(target, fill_people) if target else filler.results_in_lab()
        group = work.register(groups[index])
        work.settle(work.prepare(group), config.worklist)
        enter_ns: list[int] = []
        validate_ns: list[int] = []
        for _ in range(config.size_batches):
            batch = work.prepare(group)
            critical: list[uuid.UUID] = []

            def entered(b: Prepared = batch, out: list[uuid.UUID] = critical) -> None:
                out.extend(work.enter(b))

            enter_ns.append(_timed(entered))
            work.technical(batch, critical)
            items = [entry.item_id for entry in batch.entries]

            def validated(w: Sequence[uuid.UUID] = items[: config.worklist]) -> None:
                work.biological(w)

            validate_ns.append(_timed(validated))
        row: dict[str, Any] = {
            "results_in_lab": size,
            "enter": latency_summary(enter_ns),
            "validate_biological": latency_summary(validate_ns),
        }
        measured.append(row)
        work.progress(
            f"lab size {size:,} results: enter p50 {row['enter']['p50_ms']:.0f} ms, "
            f"validate_biological p50 {row['validate_biological']['p50_ms']:.0f} ms"
        )
    return measured


def _profile(work: Workload, config: WorkflowConfig) -> dict[str, Any]:
    """cProfile one more entry batch, one worklist and a few releases (shares, not absolute times)."""
    from benchmarks.profiling import _profile as profile_call
    from benchmarks.profiling import _top

    batch = work.prepare()
    critical: list[uuid.UUID] = []
    entry_stats, entry_text = profile_call(lambda: critical.extend(work.enter(batch)))
    work.technical(batch, critical)
    items = [entry.item_id for entry in batch.entries]
    worklist = items[: config.worklist]
    validation_stats, validation_text = profile_call(lambda: work.biological(worklist))
    work.biological(items[config.worklist :])
    orders = [order.id for order in batch.orders[:5]]

    def release() -> None:
        for order_id in orders:
            work.platform.reports.release(work.staff.biologist, order_id)

    release_stats, release_text = profile_call(release)
    return {
        "enter": {"results": len(batch.entries), "top": _top(entry_stats), "text": entry_text},
        "validate_biological": {
            "results": len(worklist),
            "top": _top(validation_stats),
            "text": validation_text,
        },
        "release": {"reports": len(orders), "top": _top(release_stats), "text": release_text},
    }


def _goal(
    backend: str,
    config: WorkflowConfig,
    entry: dict[str, Any],
    validation: dict[str, Any],
    history: dict[str, Any] | None,
    by_size: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    entry_p95 = entry["encrypted"]["p95_ms"] / 1e3
    validation_p95 = validation["encrypted"]["p95_ms"] / 1e3
    deep: dict[str, Any] = {}
    if history is not None:
        deep = {
            "deep_history_depth": history["depth"],
            "deep_history_applies": backend == GOAL_BACKEND and history["batch"] == GOAL_ENTRY_BATCH,
            "deep_history_p50_s": history["deep"]["p50_ms"] / 1e3,
            "deep_history_p95_s": history["deep"]["p95_ms"] / 1e3,
            "deep_history_met": history["deep"]["p95_ms"] / 1e3 < GOAL_ENTRY_S,
        }
    sizes = [
        {
            "results_in_lab": row["results_in_lab"],
            "entry_p50_s": row["enter"]["p50_ms"] / 1e3,
            "entry_met": row["enter"]["p95_ms"] / 1e3 < GOAL_ENTRY_S,
            "validation_p50_s": row["validate_biological"]["p50_ms"] / 1e3,
            "validation_met": row["validate_biological"]["p95_ms"] / 1e3 < GOAL_VALIDATION_S,
        }
        for row in by_size
    ]
    return {
        "by_lab_size": sizes,
        **deep,
        "entry_text": f"{GOAL_ENTRY_BATCH:,} results entered in under {GOAL_ENTRY_S:g} s on SQLite",
        "entry_applies": backend == GOAL_BACKEND and entry["batch"] == GOAL_ENTRY_BATCH,
        "entry_p50_s": entry["encrypted"]["p50_ms"] / 1e3,
        "entry_p95_s": entry_p95,
        "entry_met": entry_p95 < GOAL_ENTRY_S,
        "validation_text": f"biological validation of a {GOAL_WORKLIST}-result worklist in under "
        f"{GOAL_VALIDATION_S:g} s on SQLite",
        "validation_applies": backend == GOAL_BACKEND and config.worklist == GOAL_WORKLIST,
        "validation_p50_s": validation["encrypted"]["p50_ms"] / 1e3,
        "validation_p95_s": validation_p95,
        "validation_met": validation_p95 < GOAL_VALIDATION_S,
    }


def run(backend: str, config: WorkflowConfig, pg_admin_url: str, progress: Progress = log) -> dict[str, Any]:
    if config.batch % ITEMS_PER_ORDER:
        raise ValueError(f"the results batch must be a multiple of {ITEMS_PER_ORDER} (whole orders)")
    needed = config.worklist * config.worklists
    if needed > config.batch * config.repeats:
        raise ValueError(f"{config.worklists} worklists of {config.worklist} need {needed:,} entered results")
    patients = config.batch // ITEMS_PER_ORDER
    history_people = 2 * patients if config.history_depth else 0
    size_people = 0
    if config.lab_sizes:
        size_people = (len(config.lab_sizes) + 1) * patients + max(
            config.lab_sizes
        ) // RESULTS_PER_FILLER_PATIENT
    everyone = _adults(patients + history_people + size_people, config.seed, progress)
    people = everyone[:patients]
    others = everyone[patients : patients + history_people]
    sized = everyone[patients + history_people :]
    with bench_platform(backend, pg_admin_url) as env:
        work = Workload(env, people, config.seed, progress)
        # Warm-up, untimed: each patient's history order, entered and validated on both paths.
        first = work.prepare()
        critical = work.enter(first)
        plain_insert(env.platform.db.owner_engine, work.table, first.plain_rows)
        work.technical(first, critical)
        items = [entry.item_id for entry in first.entries]
        for start in range(0, len(items), config.worklist):
            work.biological(items[start : start + config.worklist])
            work.plain_biological(items[start : start + config.worklist])
        work.remember_previous(first)
        progress(f"workflow: {patients} patients, history orders entered and validated (untimed)")

        entry, batches = _entry(work, config)
        entered: list[uuid.UUID] = []
        for batch, batch_critical in batches:
            work.technical(batch, batch_critical)
            entered += [entry.item_id for entry in batch.entries]
        progress(f"workflow: {len(entered):,} results technically validated, criticals called (untimed)")
        validation = _validation(work, config, entered)

        # Reports need every result of their order validated: finish the orders they use (untimed).
        validated = set(entered[:needed])
        order_ids = list(dict.fromkeys(work.order_of[i] for i in entered))[
            : config.reports + config.report_warmup
        ]
        rest = [i for i in entered if work.order_of[i] in set(order_ids) and i not in validated]
        for start in range(0, len(rest), config.worklist):
            work.biological(rest[start : start + config.worklist])
        reports = _reports(work, config, order_ids)
        history = _history(work, config, others) if config.history_depth else None
        profile = _profile(work, config) if config.profile else None
        by_size = _lab_sizes(work, config, sized) if config.lab_sizes else []
        setup = work.setup_ns
    result: dict[str, Any] = {
        "backend": backend,
        "patients": patients,
        "items_per_order": ITEMS_PER_ORDER,
        "order": {"panels": list(PANELS), "tests": list(TESTS)},
        "entry": entry,
        "validation": validation,
        "reports": reports,
        "setup": {
            "order_create_ms": setup["orders"] / setup["orders_n"] / 1e6,
            "tube_receive_ms": setup["receive"] / setup["tubes_n"] / 1e6,
            "orders": setup["orders_n"],
            "tubes": setup["tubes_n"],
        },
        "history": history,
        "lab_sizes": by_size,
        "goal": _goal(backend, config, entry, validation, history, by_size),
    }
    if profile is not None:
        result["profile"] = profile
    return result
