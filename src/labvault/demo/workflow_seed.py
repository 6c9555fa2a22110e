"""A few months of synthetic laboratory activity for the demo, through the real workflow services.

For one lab: prescribers, then orders in successive visits (earlier visits fully validated, so
later ones show previous results, deltas and cumulative history), tubes collected and received
(a few rejected), results drawn around the catalogue's reference ranges (some abnormal, a few
critical), technical then biological validation with critical-value calls recorded first, partial
and final reports, and work left at every stage of the last visit. Everything is synthetic.

The services stamp ``created_at`` with the current time, so all orders are dated today; the
visits are created in order, so "previous result" and deltas still read as they would over months.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

from labvault.catalog.model import Catalog, ReferenceRange, Sex, TestDefinition
from labvault.catalog.ranges import age_in_days, select_range
from labvault.errors import Conflict
from labvault.identity.physician_service import PhysicianData, PhysicianRecord
from labvault.identity.synthetic import synthetic_physicians
from labvault.platform import Platform
from labvault.security.access import AccessContext
from labvault.store.base import utcnow
from labvault.workflow.order_data import ItemRecord, OrderRecord, OrderRequest
from labvault.workflow.result_entry import ResultEntry

ADULT_DAYS = 6575  # 18 years: the catalogue's adult reference ranges start there
PHYSICIANS_PER_LAB = 5
ENTRY_BATCH = 2000
REPORTS_PER_LAB = 12  # PDFs cost ~0.5 s each (WeasyPrint): the demo releases the most telling ones
CRITICAL_FLAGS = ("LL", "HH")
# Stages an order of the last visit may stop at (earlier visits are all released).
RELEASED, TWO_STEP, BIO_PENDING, TECH_PENDING, ENTRY_PENDING, AWAITING = (
    "released",
    "two_step",
    "bio_pending",
    "tech_pending",
    "entry_pending",
    "awaiting",
)
# (in the order each is guaranteed once when the last visit is small)
LAST_VISIT_STAGES = (RELEASED, TECH_PENDING, AWAITING, BIO_PENDING, ENTRY_PENDING, TWO_STEP)
LAST_VISIT_WEIGHTS = (55, 10, 10, 10, 10, 5)
VALIDATED_STAGES = (RELEASED, TWO_STEP)
REJECTIONS = (
    ("haemolysed", "Tube hémolysé, nouveau prélèvement demandé au préleveur."),
    ("insufficient", "Volume insuffisant pour l'ensemble des analyses."),
    ("clotted", "Tube coagulé, numération impossible."),
)


@dataclass(frozen=True)
class SeedPatient:
    """What the activity needs to know about a registered patient (never the identity)."""

    id: uuid.UUID
    sex: str
    birth_date: dt.date


@dataclass(frozen=True)
class LabStaff:
    """The named accounts that do the work: reception registers, technicians analyse, biologists sign."""

    reception: AccessContext
    technician: AccessContext
    biologist: AccessContext


@dataclass
class WorkflowSummary:
    physicians: int = 0
    orders: int = 0
    results: int = 0
    validated: int = 0
    critical: int = 0
    critical_calls: int = 0
    reports: int = 0
    partial_reports: int = 0
    restricted_orders: int = 0
    rejected_tubes: int = 0
    pending_items: int = 0

    def add(self, other: WorkflowSummary) -> None:
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Profile:
    """Why a patient comes: what is prescribed, with what clinical context and treatment, and
    which results tend to be abnormal ("H" or "L")."""

    name: str
    panels: tuple[str, ...]
    tests: tuple[str, ...]
    clinical: tuple[str, ...]
    drugs: tuple[tuple[str, ...], ...]
    bias: dict[str, str]
    weight: int
    fasting: bool | None = None
    chronic: bool = True


PROFILES = (
    Profile(
        "bilan",
        ("NFS", "IONO", "RENAL"),
        ("GLU", "CRP"),
        ("Bilan de santé annuel", "Asthénie depuis trois semaines", "Bilan préopératoire (cholécystectomie)"),
        ((), ("Paracétamol 1 g si douleur",)),
        {},
        24,
        fasting=True,
        chronic=False,
    ),
    Profile(
        "diabete",
        ("RENAL", "EAL"),
        ("GLU", "HBA1C"),
        ("Suivi diabète de type 2", "Diabète de type 2 : contrôle trimestriel, HbA1c cible < 7 %"),
        (
            ("Metformine 1000 mg matin et soir",),
            ("Metformine 850 mg 3 fois par jour", "Empagliflozine 10 mg"),
        ),
        {"GLU": "H", "HBA1C": "H", "TG": "H"},
        15,
        fasting=True,
    ),
    Profile(
        "thyroide",
        ("THYR",),
        (),
        ("Contrôle sous lévothyroxine, dose modifiée il y a 6 semaines", "Asthénie et prise de poids"),
        (("Lévothyroxine 75 µg",), ("Lévothyroxine 100 µg",), ()),
        {"TSH": "H", "FT4": "L"},
        10,
    ),
    Profile(
        "renal",
        ("RENAL", "IONO", "NFS"),
        (),
        ("Insuffisance rénale chronique stade 3, suivi", "Surveillance sous IEC et diurétique"),
        (("Ramipril 5 mg", "Furosémide 40 mg"), ("Irbésartan 150 mg",)),
        {"CREA": "H", "UREA": "H", "K": "H", "HGB": "L", "HCO3": "L"},
        10,
    ),
    Profile(
        "cardio",
        ("EAL", "BHEP"),
        ("GLU",),
        ("Dyslipidémie sous statine : contrôle des transaminases", "Prévention cardiovasculaire"),
        (("Atorvastatine 20 mg", "Acide acétylsalicylique 75 mg"), ("Rosuvastatine 10 mg",)),
        {"CHOL": "H", "TG": "H", "HDL": "L", "ALT": "H"},
        10,
        fasting=True,
    ),
    Profile(
        "inflammation",
        ("NFS",),
        ("CRP", "FERR"),
        ("Fièvre à 38,9 °C depuis 48 h, toux productive", "Douleurs articulaires inflammatoires"),
        (("Amoxicilline 1 g 3 fois par jour",), ("Ibuprofène 400 mg",), ()),
        {"CRP": "H", "WBC": "H", "NEUT": "H", "FERR": "H"},
        10,
        chronic=False,
    ),
    Profile(
        "anemie",
        ("NFS",),
        ("FERR", "VITD"),
        ("Asthénie, pâleur, règles abondantes", "Bilan de carence martiale sous supplémentation"),
        (("Fer ferreux 80 mg",), ()),
        {"HGB": "L", "MCV": "L", "FERR": "L", "VITD": "L"},
        8,
    ),
    Profile(
        "hepatique",
        ("BHEP", "NFS"),
        ("CRP",),
        ("Cytolyse découverte fortuitement", "Consommation d'alcool déclarée, contrôle du bilan hépatique"),
        ((), ("Paracétamol 1 g si douleur",)),
        {"GGT": "H", "ALT": "H", "AST": "H", "MCV": "H"},
        6,
    ),
    Profile(
        "depistage",
        ("HEPSERO",),
        ("HIV",),
        ("Dépistage après exposition au risque", "Bilan avant mise sous PrEP", "Bilan d'entrée en EHPAD"),
        ((),),
        {},
        7,
        chronic=False,
    ),
)
RESTRICTED_PROFILE = "depistage"
CRITICAL_CANDIDATES = {"K": "H", "HGB": "L", "PLT": "L", "NA": "L", "GLU": "H"}


@dataclass
class Visit:
    """One patient's order in one round of visits, and where its workflow is to stop."""

    patient: SeedPatient
    profile: Profile
    physician: PhysicianRecord | None
    stage: str
    reject: bool = False
    critical: str | None = None
    serology: bool = False  # a restricted serology added to a non-screening order
    report: bool = False  # its validated results are released as a report (partial, then final)
    order: OrderRecord | None = None


def seed_workflow(
    platform: Platform,
    staff: LabStaff,
    patients: Sequence[SeedPatient],
    rng: random.Random,
    orders: int = 60,
    reports: int = REPORTS_PER_LAB,
) -> WorkflowSummary:
    """About ``orders`` orders for a subset of ``patients`` of the staff's lab, in three visits;
    at most about ``reports`` reports are released (the others stay validated, awaiting release)."""
    summary = WorkflowSummary()
    if not patients or orders <= 0:
        return summary
    assert staff.reception.lab_id is not None
    catalog = platform.catalogs.active(staff.reception.lab_id)
    physicians = _register_physicians(platform, staff.reception, rng)
    summary.physicians = len(physicians)
    today = utcnow().date()
    adults = [p for p in patients if age_in_days(p.birth_date, today) >= ADULT_DAYS] or list(patients)
    baselines: dict[tuple[uuid.UUID, str], float | str] = {}
    visits = _plan(catalog, adults, physicians, orders, rng)
    _choose_reports(visits, reports)
    for number, planned in enumerate(visits):
        _run_visit(platform, staff, catalog, planned, baselines, rng, summary, last=number == len(visits) - 1)
    return summary


def _register_physicians(platform: Platform, ctx: AccessContext, rng: random.Random) -> list[PhysicianRecord]:
    doctors = synthetic_physicians(PHYSICIANS_PER_LAB, rng.randrange(1 << 30))
    return [
        platform.physicians.register(
            ctx, PhysicianData(d.rpps, d.family_name, d.given_names, d.specialty, d.phone, d.email)
        )
        for d in doctors
    ]


def _plan(
    catalog: Catalog,
    patients: Sequence[SeedPatient],
    physicians: Sequence[PhysicianRecord],
    orders: int,
    rng: random.Random,
) -> list[list[Visit]]:
    """Three visits: everyone once, then the chronic patients again (twice for some)."""
    first_size = max(1, math.ceil(orders * 0.55))
    second_size = min(math.ceil(orders * 0.27), orders - first_size)
    third_size = max(orders - first_size - second_size, 0)
    cohort = rng.sample(list(patients), min(first_size, len(patients)))
    while len(cohort) < first_size:  # tiny demo labs: some patients come for two reasons
        cohort.append(rng.choice(patients))
    weights = [p.weight for p in PROFILES]
    first: list[Visit] = []
    for patient in cohort:
        profile = rng.choices(PROFILES, weights=weights)[0]
        first.append(Visit(patient, profile, rng.choice(physicians) if physicians else None, RELEASED))
    if not any(v.profile.name == RESTRICTED_PROFILE for v in first):  # at least one screening
        first[-1].profile = next(p for p in PROFILES if p.name == RESTRICTED_PROFILE)
    chronic = [v for v in first if v.profile.chronic] or first
    rounds = [first]
    for size in (second_size, third_size):
        if size <= 0:
            continue
        chosen = rng.sample(chronic, min(size, len(chronic)))
        while len(chosen) < size:
            chosen.append(rng.choice(first))
        rounds.append([Visit(v.patient, v.profile, v.physician, RELEASED) for v in chosen])
    if len(rounds) > 1:  # the last visit stops at every stage (each at least once when it can)
        last_visits = rounds[-1]
        extra = max(len(last_visits) - len(LAST_VISIT_STAGES), 0)
        stages = list(LAST_VISIT_STAGES) + rng.choices(LAST_VISIT_STAGES, weights=LAST_VISIT_WEIGHTS, k=extra)
        for visit, stage in zip(last_visits, stages[: len(last_visits)], strict=True):
            visit.stage = stage
        rng.shuffle(last_visits)
    for number, visits in enumerate(rounds):
        for visit in visits:
            if (number < len(rounds) - 1 or len(rounds) == 1) and rng.random() < 0.15:
                visit.stage = TWO_STEP
            visit.reject = rng.random() < 0.07
            visit.serology = visit.profile.name == "hepatique" and rng.random() < 0.4
        candidates = [v for v in visits if _codes_of(catalog, v) & CRITICAL_CANDIDATES.keys()]
        for visit in rng.sample(candidates, min(len(candidates), 1 + len(visits) // 25)):
            visit.critical = rng.choice(sorted(_codes_of(catalog, visit) & CRITICAL_CANDIDATES.keys()))
    return rounds


def _choose_reports(rounds: list[list[Visit]], budget: int) -> None:
    """Which orders get a report: the last visit's, one order released in two steps (partial, then
    final), restricted serologies, critical values, then the most recent ones."""
    newest_first = [v for visits in reversed(rounds) for v in visits if v.stage in VALIDATED_STAGES]
    tiers = (
        [v for v in rounds[-1] if v.stage in VALIDATED_STAGES],
        [v for v in newest_first if v.stage == TWO_STEP][:1],
        [v for v in newest_first if v.profile.name == RESTRICTED_PROFILE or v.serology][:2],
        [v for v in newest_first if v.critical][:2],
        newest_first,
    )
    for tier in tiers:
        for visit in tier:
            cost = 2 if visit.stage == TWO_STEP else 1
            if not visit.report and cost <= budget:
                visit.report = True
                budget -= cost


def _codes_of(catalog: Catalog, visit: Visit) -> set[str]:
    """The test codes an order of this visit will hold."""
    codes = {t.code for panel in visit.profile.panels for t in catalog.panel_tests(panel)}
    return codes | set(visit.profile.tests)


def _request(visit: Visit, rng: random.Random, today: dt.date) -> OrderRequest:
    profile = visit.profile
    panels = profile.panels + (("HEPSERO",) if visit.serology else ())
    return OrderRequest(
        patient_id=visit.patient.id,
        panels=panels,
        tests=profile.tests,
        prescriber_id=visit.physician.id if visit.physician else None,
        prescribed_on=today - dt.timedelta(days=rng.randint(0, 20)),
        drugs=rng.choice(profile.drugs),
        clinical_info=rng.choice(profile.clinical),
        urgent=rng.random() < (0.25 if profile.name in ("inflammation", "renal") else 0.04),
        fasting=profile.fasting,
    )


def _run_visit(
    platform: Platform,
    staff: LabStaff,
    catalog: Catalog,
    visits: list[Visit],
    baselines: dict[tuple[uuid.UUID, str], float | str],
    rng: random.Random,
    summary: WorkflowSummary,
    *,
    last: bool,
) -> None:
    now = utcnow()
    for visit in visits:
        visit.order = platform.orders.create(staff.reception, _request(visit, rng, now.date()))
        summary.orders += 1
        summary.restricted_orders += any(item.restricted for item in visit.order.items)
    records: dict[uuid.UUID, OrderRecord] = {}
    for visit in visits:
        record = _handle_tubes(platform, staff, visit, rng, now, last=last)
        records[record.id] = record
        summary.rejected_tubes += visit.reject

    entries: dict[bool, list[ResultEntry]] = {False: [], True: []}  # by restricted
    for visit in visits:
        if visit.stage in (ENTRY_PENDING, AWAITING):
            continue
        record = records[_order(visit).id]
        received = {s.id for s in record.specimens if s.status == "received"}
        values = _draw_order(catalog, visit, record.items, baselines, rng)
        for item in record.items:
            if item.calculated or item.specimen_id not in received or item.test_code not in values:
                continue
            entries[item.restricted].append(ResultEntry(item.id, values[item.test_code]))
    flags: dict[uuid.UUID, str] = {}  # entered items (calculated ones included) and their flags
    for restricted, batch in entries.items():
        actor = staff.biologist if restricted else staff.technician
        for start in range(0, len(batch), ENTRY_BATCH):
            entered = platform.results.enter(actor, batch[start : start + ENTRY_BATCH])
            flags.update((r.order_item_id, r.flag) for r in entered)
            summary.results += len(entered)
            summary.critical += sum(1 for r in entered if r.flag in CRITICAL_FLAGS)

    to_check = [v for v in visits if v.stage not in (ENTRY_PENDING, AWAITING, TECH_PENDING)]
    checked = {
        v_id: [i for i in records[v_id].items if i.id in flags] for v_id in (_order(v).id for v in to_check)
    }
    for restricted in (False, True):
        ids = [i.id for items in checked.values() for i in items if i.restricted is restricted]
        if ids:
            platform.results.validate_technical(staff.biologist if restricted else staff.technician, ids)
    for visit in to_check:
        for item in checked[_order(visit).id]:
            if flags[item.id] in CRITICAL_FLAGS:
                platform.results.record_critical_call(
                    staff.technician,
                    item.id,
                    _called_party(visit),
                    "phone",
                    "Valeur critique téléphonée et relue par le correspondant.",
                )
                summary.critical_calls += 1

    signed = [v for v in to_check if v.stage in VALIDATED_STAGES]
    first_wave: list[uuid.UUID] = []
    second_wave: dict[uuid.UUID, list[uuid.UUID]] = {}
    for visit in signed:
        items = checked[_order(visit).id]
        sections = {i.section for i in items}
        held_back = visit.stage == TWO_STEP and "haematology" in sections and len(sections) > 1
        for item in items:
            if held_back and item.section != "haematology":
                second_wave.setdefault(_order(visit).id, []).append(item.id)
            else:
                first_wave.append(item.id)
    validated = 0
    if first_wave:
        validated += platform.results.validate_biological(staff.biologist, first_wave)
    for visit in signed:
        if visit.report:
            _release(platform, staff, visit, summary)
    later = [i for ids in second_wave.values() for i in ids]
    if later:
        validated += platform.results.validate_biological(staff.biologist, later)
        for visit in signed:
            if visit.report and _order(visit).id in second_wave:
                _release(platform, staff, visit, summary)
    summary.validated += validated
    summary.pending_items += sum(len(_order(v).items) for v in visits) - validated


def _order(visit: Visit) -> OrderRecord:
    assert visit.order is not None, "the order is created first"
    return visit.order


def _handle_tubes(
    platform: Platform, staff: LabStaff, visit: Visit, rng: random.Random, now: dt.datetime, *, last: bool
) -> OrderRecord:
    """Collect and receive the order's tubes (or not yet), rejecting one now and then; returns the
    order as it then stands."""
    order = _order(visit)
    if visit.stage == AWAITING:
        visit.reject = False
        return order
    specimens = sorted(order.specimens, key=lambda s: s.tube)
    rejected = rng.randrange(len(specimens)) if visit.reject else None
    for position, specimen in enumerate(specimens):
        if visit.report:  # the drawing time shows on the report; otherwise reception stamps it
            drawn = now - dt.timedelta(minutes=rng.randint(20, 240))
            platform.specimens.collect(staff.reception, specimen.barcode, drawn)
        platform.specimens.receive(staff.reception, specimen.barcode)
        if position == rejected:
            reason, comment = rng.choice(REJECTIONS)
            platform.specimens.reject(staff.technician, specimen.barcode, reason, comment)
    if rejected is None:
        return replace(order, specimens=tuple(replace(s, status="received") for s in order.specimens))
    record = platform.orders.get(staff.biologist, order.id)  # the items now wait for a new tube
    if last:
        return record
    for specimen in record.specimens:  # an earlier visit: the new tube came and was analysed
        if specimen.status == "awaited":
            platform.specimens.collect(staff.reception, specimen.barcode)
            platform.specimens.receive(staff.reception, specimen.barcode)
    return platform.orders.get(staff.biologist, order.id)


def _release(platform: Platform, staff: LabStaff, visit: Visit, summary: WorkflowSummary) -> None:
    assert visit.order is not None
    try:
        info = platform.reports.release(staff.biologist, visit.order.id)
    except Conflict:  # nothing validated on this order (every tube rejected): no report yet
        return
    summary.reports += 1
    summary.partial_reports += info.kind == "partial"


def _called_party(visit: Visit) -> str:
    if visit.physician is None:
        return "Infirmière de coordination, service de soins"
    data = visit.physician.data
    return f"Dr {data.given_names} {data.family_name.upper()}, prescripteur"


# --- synthetic values ---------------------------------------------------------------------------


def _draw_order(
    catalog: Catalog,
    visit: Visit,
    items: Sequence[ItemRecord],
    baselines: dict[tuple[uuid.UUID, str], float | str],
    rng: random.Random,
) -> dict[str, str]:
    """A value for every entered test of the order: the patient's usual value on a repeat visit
    (sometimes a real change, for the delta checks), else drawn around the reference range."""
    patient = visit.patient
    sex: Sex | None = patient.sex if patient.sex in ("M", "F") else None  # type: ignore[assignment]
    age = max(age_in_days(patient.birth_date, utcnow().date()), ADULT_DAYS)
    numbers: dict[str, float] = {}
    coded: dict[str, str] = {}
    for item in items:
        test = catalog.get(item.test_code)
        if test is None or item.calculated:
            continue
        key = (patient.id, test.code)
        known = baselines.get(key)
        if test.result_type == "coded":
            coded[test.code] = known if isinstance(known, str) else _draw_coded(test, rng)
            baselines[key] = coded[test.code]
            continue
        if test.result_type != "numeric":
            continue
        direction = _direction(visit, test.code, rng)
        if isinstance(known, float) and direction != "critical":
            drift = rng.gauss(0, 0.04) if rng.random() > 0.15 else rng.choice((-0.45, 0.6))
            numbers[test.code] = max(known * (1 + drift), 0.0)
        else:
            numbers[test.code] = _draw_number(test, _range(test, sex, age), direction, rng)
            if direction != "critical":
                baselines[key] = numbers[test.code]
    _coherent_blood_count(numbers, rng)
    _coherent_lipids(numbers, rng)
    values = {code: _format(catalog.test(code), value) for code, value in numbers.items()}
    values.update(coded)
    return values


def _direction(visit: Visit, code: str, rng: random.Random) -> str | None:
    if visit.critical == code:
        return "critical"
    bias = visit.profile.bias.get(code)
    if bias is not None and rng.random() < 0.55:
        return bias
    draw = rng.random()
    return "H" if draw < 0.05 else "L" if draw < 0.09 else None


def _range(test: TestDefinition, sex: Sex | None, age: int) -> ReferenceRange | None:
    chosen = select_range(test, sex, age)
    if chosen is None and test.reference_ranges:
        chosen = test.reference_ranges[-1]
    return chosen


def _draw_number(
    test: TestDefinition, interval: ReferenceRange | None, direction: str | None, rng: random.Random
) -> float:
    if direction == "critical" and test.critical is not None:
        wanted = CRITICAL_CANDIDATES.get(test.code, "H")
        if wanted == "H" and test.critical.high is not None:
            return test.critical.high * rng.uniform(1.04, 1.15)
        if test.critical.low is not None:
            return test.critical.low * rng.uniform(0.75, 0.95)
    low = interval.low if interval else None
    high = interval.high if interval else None
    if low is not None and high is not None:
        half = (high - low) / 2
        if direction == "H":
            return high + half * rng.uniform(0.1, 0.8)
        if direction == "L":
            return max(low - half * rng.uniform(0.1, 0.6), low * 0.3)
        return min(max(rng.gauss(low + half, half / 2.2), low + half * 0.05), high - half * 0.05)
    if high is not None:  # "< high": CRP, transaminases, bilirubin, lipids
        return high * (rng.uniform(1.2, 3.5) if direction == "H" else rng.uniform(0.15, 0.85))
    if low is not None:  # "> low": HDL, prothrombin time, antibodies
        return low * (rng.uniform(0.45, 0.9) if direction == "L" else rng.uniform(1.1, 1.8))
    return rng.uniform(1, 10)


def _draw_coded(test: TestDefinition, rng: random.Random) -> str:
    abnormal = [c for c in test.coded_values if c in test.abnormal_codes]
    normal = [c for c in test.coded_values if c not in test.abnormal_codes]
    if abnormal and rng.random() < 0.06:
        return rng.choice(abnormal)
    return normal[0] if normal else test.coded_values[0]


def _coherent_blood_count(numbers: dict[str, float], rng: random.Random) -> None:
    """Red cell indices follow from haemoglobin, MCV and MCHC; the white count is the sum of the
    differential: a blood count whose numbers agree, as an analyser's do."""
    if {"HGB", "MCV", "HCT", "RBC", "MCH", "MCHC"} <= numbers.keys():
        mchc = rng.uniform(31.5, 35.0) if numbers["MCV"] >= 80 else rng.uniform(29.5, 32.5)
        hct = numbers["HGB"] / mchc * 100
        rbc = hct / numbers["MCV"] * 10
        numbers.update(MCHC=mchc, HCT=hct, RBC=rbc, MCH=numbers["HGB"] / rbc * 10)
    differential = ("NEUT", "LYMPH", "MONO", "EOS", "BASO")
    if "WBC" in numbers and all(code in numbers for code in differential):
        numbers["WBC"] = sum(round(numbers[code], 2) for code in differential)


def _coherent_lipids(numbers: dict[str, float], rng: random.Random) -> None:
    """Total cholesterol above HDL + VLDL, so that the Friedewald LDL is a plausible value."""
    if {"CHOL", "HDL", "TG"} <= numbers.keys():
        floor = numbers["HDL"] + numbers["TG"] / 2.2
        if numbers["CHOL"] < floor + 1.2:
            numbers["CHOL"] = floor + rng.uniform(1.5, 3.5)


def _format(test: TestDefinition, value: float) -> str:
    decimals = test.decimals if test.decimals is not None else 2
    smallest = 10.0**-decimals
    limits = test.plausible_limits  # a draw's far tail would be refused at entry: keep it plausible
    return f"{min(max(value, smallest, limits.low), limits.high):.{decimals}f}"
