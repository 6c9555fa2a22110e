"""Orders as the domain sees them (clear values) and their validation. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from labvault.catalog.model import Catalog, TestDefinition
from labvault.errors import InvalidInput
from labvault.identity.validation import validate_rpps

MAX_TESTS = 100
MAX_DRUGS = 50
MAX_CLINICAL = 2000


@dataclass(frozen=True)
class OrderRequest:
    """A prescription as typed at reception: tests and panels by catalogue code."""

    patient_id: uuid.UUID
    tests: tuple[str, ...] = ()
    panels: tuple[str, ...] = ()
    prescriber_id: uuid.UUID | None = None
    prescriber_rpps: str | None = None  # the prescription names the prescriber by RPPS
    prescribed_on: dt.date | None = None
    drugs: tuple[str, ...] = ()
    clinical_info: str | None = None
    urgent: bool = False
    fasting: bool | None = None


@dataclass(frozen=True)
class PlannedItem:
    """One test the order will hold, with what it bills (panels bill their own NABM acts)."""

    test: TestDefinition
    panel_code: str | None
    nabm: str | None
    nabm_b: int | None


@dataclass(frozen=True)
class ItemRecord:
    id: uuid.UUID
    test_code: str
    test_name: str
    panel_code: str | None
    section: str
    tube: str
    nabm: str | None
    nabm_b: int | None
    restricted: bool
    calculated: bool
    status: str
    specimen_id: uuid.UUID | None
    result: ResultSummary | None = None


@dataclass(frozen=True)
class ResultSummary:
    """The current version of an item's result, decrypted for a caller allowed to read it."""

    id: uuid.UUID
    order_item_id: uuid.UUID
    version: int
    status: str
    value: str
    flag: str
    comment: str | None
    unit: str | None
    reference: tuple[float | None, float | None] | None
    previous: dict[str, str] | None
    delta: dict[str, float | None] | None
    critical_called: bool
    entered_at: dt.datetime | None = None  # this version's entry
    validated_at: dt.datetime | None = None  # its biologist's signature, once signed


@dataclass(frozen=True)
class SpecimenRecord:
    id: uuid.UUID
    barcode: str
    tube: str
    specimen: str
    status: str
    collected_at: dt.datetime | None
    received_at: dt.datetime | None
    rejection_reason: str | None
    rejection_comment: str | None


@dataclass(frozen=True)
class BillingAct:
    nabm: str
    b: int | None
    label: str


@dataclass(frozen=True)
class OrderRecord:
    id: uuid.UUID
    lab_id: uuid.UUID
    accession: str
    patient_id: uuid.UUID
    prescriber_id: uuid.UUID | None
    prescribed_on: dt.date | None
    urgent: bool
    fasting: bool | None
    clinical_info: str | None
    drugs: tuple[str, ...]
    catalog_version: str
    created_at: dt.datetime
    items: tuple[ItemRecord, ...]
    specimens: tuple[SpecimenRecord, ...]
    billing: tuple[BillingAct, ...]
    hidden_items: int = 0  # restricted items the caller may not see (0 for biologists)
    # clinical_info and drugs held back with those items (derived data: they may name the test)
    clinical_context_withheld: bool = False
    reports: tuple[int, ...] = field(default=())

    @property
    def total_b(self) -> int:
        return sum(act.b or 0 for act in self.billing)


def _clean(value: str, field_name: str, limit: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput(field_name, "must not be empty")
    if len(cleaned) > limit:
        raise InvalidInput(field_name, f"must be at most {limit} characters")
    return cleaned


def validate_order(request: OrderRequest, catalog: Catalog, today: dt.date) -> OrderRequest:
    """Refuse an unusable prescription before anything is written, naming the field."""
    if not request.tests and not request.panels:
        raise InvalidInput("tests", "an order needs at least one test or panel")
    if len(request.tests) + len(request.panels) > MAX_TESTS:
        raise InvalidInput("tests", f"at most {MAX_TESTS} tests and panels per order")
    for position, code in enumerate(request.tests):
        if catalog.get(code) is None:
            raise InvalidInput(f"tests[{position}]", f"unknown test code in catalogue {catalog.version}")
    panel_codes = {p.code for p in catalog.panels}
    for position, code in enumerate(request.panels):
        if code not in panel_codes:
            raise InvalidInput(f"panels[{position}]", f"unknown panel code in catalogue {catalog.version}")
    rpps = None
    if request.prescriber_rpps is not None:
        if request.prescriber_id is not None:
            raise InvalidInput("prescriber_rpps", "give the prescriber's RPPS or their id, not both")
        rpps = validate_rpps(request.prescriber_rpps)
    if request.prescribed_on is not None and request.prescribed_on > today:
        raise InvalidInput("prescribed_on", "is in the future")
    if len(request.drugs) > MAX_DRUGS:
        raise InvalidInput("drugs", f"at most {MAX_DRUGS} drugs")
    drugs = tuple(_clean(d, f"drugs[{i}]", 200) for i, d in enumerate(request.drugs))
    clinical = request.clinical_info
    if clinical is not None:
        clinical = " ".join(clinical.split()) or None
        if clinical is not None and len(clinical) > MAX_CLINICAL:
            raise InvalidInput("clinical_info", f"must be at most {MAX_CLINICAL} characters")
    return OrderRequest(
        patient_id=request.patient_id,
        tests=tuple(request.tests),
        panels=tuple(request.panels),
        prescriber_id=request.prescriber_id,
        prescriber_rpps=rpps,
        prescribed_on=request.prescribed_on,
        drugs=drugs,
        clinical_info=clinical,
        urgent=request.urgent,
        fasting=request.fasting,
    )


def plan_items(request: OrderRequest, catalog: Catalog) -> list[PlannedItem]:
    """The order's tests, each once, panels first. A panel bills its own acts (the NFS is one act,
    not thirteen), so its tests carry no NABM code of their own; a test ordered on its own does.
    A test already brought by a panel is not ordered (nor billed) twice; a calculated test brings
    the measured tests it is computed from."""
    items: list[PlannedItem] = []
    seen: set[str] = set()
    for code in request.panels:
        panel = catalog.panel(code)
        for test in catalog.panel_tests(code):
            if test.code not in seen:
                seen.add(test.code)
                items.append(PlannedItem(test, panel.code, None, None))
    for code in request.tests:
        test = catalog.test(code)
        if test.code in seen:
            continue
        seen.add(test.code)
        items.append(PlannedItem(test, None, test.nabm, test.nabm_b))
    for planned in list(items):  # a calculated test brings its measured inputs (eGFR needs creatinine)
        calculation = planned.test.calculated
        for code in calculation.inputs if calculation else ():
            if code not in seen and catalog.get(code) is not None:
                seen.add(code)
                needed = catalog.test(code)
                items.append(PlannedItem(needed, None, needed.nabm, needed.nabm_b))
    return items
