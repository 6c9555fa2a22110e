"""The test catalogue as immutable values, so one loaded catalogue can be shared by every lab and request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from labvault.errors import NotFound

Sex = Literal["M", "F"]
ResultType = Literal["numeric", "coded", "text"]
Sensitivity = Literal["normal", "restricted"]
Formula = Literal["ckd_epi_2021", "ldl_friedewald"]

SEXES: tuple[Sex, ...] = ("M", "F")
RESULT_TYPES: tuple[ResultType, ...] = ("numeric", "coded", "text")
SENSITIVITIES: tuple[Sensitivity, ...] = ("normal", "restricted")
FORMULAS: tuple[Formula, ...] = ("ckd_epi_2021", "ldl_friedewald")
SECTIONS = (
    "haematology",
    "biochemistry",
    "immunology/serology",
    "haemostasis",
    "immunohaematology",
    "hormonology",
)
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class ReferenceRange:
    """A normal interval for one sex (or both, when ``sex`` is None) and one age band.

    ``age_min_days`` is inclusive and ``age_max_days`` exclusive, so consecutive bands share a bound
    without overlapping. Either limit may be open (None), not both.
    """

    sex: Sex | None
    age_min_days: int
    age_max_days: int | None
    low: float | None
    high: float | None

    def applies_to(self, sex: Sex | None, age_days: int) -> bool:
        if self.sex is not None and self.sex != sex:
            return False
        if age_days < self.age_min_days:
            return False
        return self.age_max_days is None or age_days < self.age_max_days

    def overlaps(self, other: ReferenceRange) -> bool:
        """Two bands for the same sex key that share at least one day: the selection would be ambiguous."""
        if self.sex != other.sex:
            return False
        self_end = self.age_max_days if self.age_max_days is not None else float("inf")
        other_end = other.age_max_days if other.age_max_days is not None else float("inf")
        return self.age_min_days < other_end and other.age_min_days < self_end


@dataclass(frozen=True)
class CriticalLimits:
    """Values beyond which the biologist must phone the prescriber; they beat the reference range."""

    low: float | None
    high: float | None


@dataclass(frozen=True)
class PlausibleLimits:
    """The widest values a result of the test can take, inclusive: beyond them it is a typing or unit
    error, not a pathology, and entry is refused. Wide on purpose, and never a flag."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


# For a numeric test whose catalogue sets no ``plausible`` limits (a lab's own catalogue imported
# before they existed): no negative value (the former rule) and nothing beyond a billion.
DEFAULT_PLAUSIBLE = PlausibleLimits(0.0, 1e9)


@dataclass(frozen=True)
class DeltaRule:
    """A change from the previous result worth a second look, when both fall within ``window_days``."""

    absolute: float | None
    percent: float | None
    window_days: int


@dataclass(frozen=True)
class Calculation:
    """A result computed from other tests of the same request, in the order the formula expects."""

    formula: Formula
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class NabmAct:
    """One billable act of the French Nomenclature des actes de biologie médicale."""

    code: str
    b: int | None


@dataclass(frozen=True)
class TestDefinition:
    """One orderable analysis: how to identify, sample, bill, report and interpret it."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    code: str
    name_fr: str
    name_en: str
    loinc: str | None
    nabm: str | None
    nabm_b: int | None
    unit: str | None
    specimen: str
    tube: str
    section: str
    result_type: ResultType
    decimals: int | None
    coded_values: tuple[str, ...]
    abnormal_codes: tuple[str, ...]
    reference_ranges: tuple[ReferenceRange, ...]
    critical: CriticalLimits | None
    delta: DeltaRule | None
    sensitivity: Sensitivity
    calculated: Calculation | None
    source_checked: bool
    note: str | None = None
    plausible: PlausibleLimits | None = None

    @property
    def plausible_limits(self) -> PlausibleLimits:
        """The limits a typed-in value must fall within: the catalogue's, else ``DEFAULT_PLAUSIBLE``."""
        return self.plausible if self.plausible is not None else DEFAULT_PLAUSIBLE

    @property
    def restricted(self) -> bool:
        """Restricted results (HIV, hepatitis, syphilis, pregnancy, genetics) need a stronger access right."""
        return self.sensitivity == "restricted"


@dataclass(frozen=True)
class Panel:
    """A named group of tests ordered together, with the NABM acts it is usually billed as."""

    code: str
    name_fr: str
    tests: tuple[str, ...]
    nabm: tuple[NabmAct, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class PatientInfo:
    """What interpretation needs to know about the patient: never the identity."""

    sex: Sex | None
    age_days: int

    @property
    def age_years(self) -> float:
        return self.age_days / DAYS_PER_YEAR


@dataclass(frozen=True)
class Catalog:
    """A validated, versioned catalogue; build it with ``labvault.catalog.load_catalog``."""

    version: str
    tests: tuple[TestDefinition, ...]
    panels: tuple[Panel, ...]
    notes: str = ""
    sources: tuple[str, ...] = ()
    _tests: dict[str, TestDefinition] = field(init=False, repr=False, compare=False)
    _panels: dict[str, Panel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", {t.code: t for t in self.tests})
        object.__setattr__(self, "_panels", {p.code: p for p in self.panels})

    def get(self, code: str) -> TestDefinition | None:
        return self._tests.get(code)

    def test(self, code: str) -> TestDefinition:
        found = self._tests.get(code)
        if found is None:
            raise NotFound(f"no test {code!r} in catalogue {self.version}")
        return found

    def panel(self, code: str) -> Panel:
        found = self._panels.get(code)
        if found is None:
            raise NotFound(f"no panel {code!r} in catalogue {self.version}")
        return found

    def panel_tests(self, code: str) -> tuple[TestDefinition, ...]:
        return tuple(self._tests[c] for c in self.panel(code).tests)

    @property
    def restricted_codes(self) -> frozenset[str]:
        return frozenset(t.code for t in self.tests if t.restricted)
