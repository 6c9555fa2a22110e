"""Load, validate and export the versioned test catalogue (JSON shipped in the package)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TypeVar

from labvault.catalog.model import (
    FORMULAS,
    RESULT_TYPES,
    SECTIONS,
    SENSITIVITIES,
    SEXES,
    Calculation,
    Catalog,
    CriticalLimits,
    DeltaRule,
    NabmAct,
    Panel,
    PlausibleLimits,
    ReferenceRange,
    TestDefinition,
)
from labvault.catalog.parsing import (
    as_object,
    finite,
    object_list,
    opt_int,
    opt_num,
    opt_str,
    req_bool,
    req_int,
    req_str,
    str_list,
)
from labvault.catalog.validation import validate_catalog
from labvault.errors import InvalidInput

PACKAGED_CATALOG = "catalog-v1.json"

_CATALOG_KEYS = ("version", "notes", "sources", "tests", "panels")
_TEST_KEYS = (
    "code", "name_fr", "name_en", "loinc", "nabm", "nabm_b", "unit", "specimen", "tube", "section",
    "result_type", "decimals", "coded_values", "abnormal_codes", "reference_ranges", "critical",
    "plausible", "delta", "sensitivity", "calculated", "source_checked", "note",
)  # fmt: skip
_RANGE_KEYS = ("sex", "age_min_days", "age_max_days", "low", "high")
_PANEL_KEYS = ("code", "name_fr", "tests", "nabm", "note")

Choice = TypeVar("Choice", bound=str)


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalogue at ``path``, or the one shipped with labvault; refused whole if anything is wrong."""
    if path is None:
        packaged = resources.files("labvault.catalog").joinpath("data").joinpath(PACKAGED_CATALOG)
        text = packaged.read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("catalog", f"not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    return load_catalog_dict(data)


@functools.cache
def default_catalog() -> Catalog:
    """The packaged catalogue, parsed once per process."""
    return load_catalog()


def load_catalog_dict(data: Mapping[str, object]) -> Catalog:
    """A validated Catalog from already-decoded JSON (the shape ``dump_catalog`` produces)."""
    top = as_object(data, "catalog", _CATALOG_KEYS)
    version = req_str(top, "version", "catalog")
    tests = tuple(_test(item, index) for index, item in enumerate(object_list(top, "tests", "catalog")))
    panels = tuple(_panel(item, index) for index, item in enumerate(object_list(top, "panels", "catalog")))
    if not tests:
        raise InvalidInput("catalog.tests", "the catalogue has no test")
    validate_catalog(tests, panels)
    return Catalog(
        version=version,
        tests=tests,
        panels=panels,
        notes=opt_str(top, "notes", "catalog") or "",
        sources=str_list(top, "sources", "catalog"),
    )


def _choice(value: str, choices: tuple[Choice, ...], field: str) -> Choice:
    for choice in choices:
        if value == choice:
            return choice
    raise InvalidInput(field, f"must be one of {', '.join(choices)}")


def _label(item: object, collection: str, index: int) -> str:
    """Errors name an entry by its code when it has one: positions shift as the file is edited."""
    code = item.get("code") if isinstance(item, Mapping) else None
    return f"{collection}.{code}" if isinstance(code, str) and code else f"{collection}[{index}]"


def _test(item: object, index: int) -> TestDefinition:
    raw = as_object(item, _label(item, "tests", index), _TEST_KEYS)
    code = req_str(raw, "code", f"tests[{index}]")
    where = f"tests.{code}"
    ranges = tuple(
        _range(entry, f"{where}.reference_ranges[{i}]")
        for i, entry in enumerate(object_list(raw, "reference_ranges", where))
    )
    return TestDefinition(
        code=code,
        name_fr=req_str(raw, "name_fr", where),
        name_en=req_str(raw, "name_en", where),
        loinc=opt_str(raw, "loinc", where),
        nabm=opt_str(raw, "nabm", where),
        nabm_b=opt_int(raw, "nabm_b", where),
        unit=opt_str(raw, "unit", where),
        specimen=req_str(raw, "specimen", where),
        tube=req_str(raw, "tube", where),
        section=_choice(req_str(raw, "section", where), SECTIONS, f"{where}.section"),
        result_type=_choice(req_str(raw, "result_type", where), RESULT_TYPES, f"{where}.result_type"),
        decimals=opt_int(raw, "decimals", where),
        coded_values=str_list(raw, "coded_values", where),
        abnormal_codes=str_list(raw, "abnormal_codes", where),
        reference_ranges=ranges,
        critical=_critical(raw.get("critical"), f"{where}.critical"),
        delta=_delta(raw.get("delta"), f"{where}.delta"),
        sensitivity=_choice(req_str(raw, "sensitivity", where), SENSITIVITIES, f"{where}.sensitivity"),
        calculated=_calculation(raw.get("calculated"), f"{where}.calculated"),
        source_checked=req_bool(raw, "source_checked", where),
        note=opt_str(raw, "note", where),
        plausible=_plausible(raw.get("plausible"), f"{where}.plausible"),
    )


def _plausible(item: object, where: str) -> PlausibleLimits | None:
    """``[low, high]``: two finite numbers, low below high."""
    if item is None:
        return None
    shape = "must be a list of two numbers [low, high]"
    if not isinstance(item, list) or len(item) != 2:
        raise InvalidInput(where, shape)
    if any(isinstance(value, bool) or not isinstance(value, int | float) for value in item):
        raise InvalidInput(where, shape)
    low, high = finite(item[0], f"{where}[0]"), finite(item[1], f"{where}[1]")
    if not low < high:
        raise InvalidInput(where, "low must be below high")
    return PlausibleLimits(low, high)


def _range(item: object, where: str) -> ReferenceRange:
    raw = as_object(item, where, _RANGE_KEYS)
    sex = opt_str(raw, "sex", where)
    return ReferenceRange(
        sex=None if sex is None else _choice(sex, SEXES, f"{where}.sex"),
        age_min_days=req_int(raw, "age_min_days", where),
        age_max_days=opt_int(raw, "age_max_days", where),
        low=opt_num(raw, "low", where),
        high=opt_num(raw, "high", where),
    )


def _critical(item: object, where: str) -> CriticalLimits | None:
    if item is None:
        return None
    raw = as_object(item, where, ("low", "high"))
    return CriticalLimits(low=opt_num(raw, "low", where), high=opt_num(raw, "high", where))


def _delta(item: object, where: str) -> DeltaRule | None:
    if item is None:
        return None
    raw = as_object(item, where, ("absolute", "percent", "window_days"))
    return DeltaRule(
        absolute=opt_num(raw, "absolute", where),
        percent=opt_num(raw, "percent", where),
        window_days=req_int(raw, "window_days", where),
    )


def _calculation(item: object, where: str) -> Calculation | None:
    if item is None:
        return None
    raw = as_object(item, where, ("formula", "inputs"))
    formula = _choice(req_str(raw, "formula", where), FORMULAS, f"{where}.formula")
    return Calculation(formula=formula, inputs=str_list(raw, "inputs", where))


def _panel(item: object, index: int) -> Panel:
    raw = as_object(item, _label(item, "panels", index), _PANEL_KEYS)
    code = req_str(raw, "code", f"panels[{index}]")
    where = f"panels.{code}"
    acts = tuple(_act(entry, f"{where}.nabm[{i}]") for i, entry in enumerate(object_list(raw, "nabm", where)))
    return Panel(
        code=code,
        name_fr=req_str(raw, "name_fr", where),
        tests=str_list(raw, "tests", where),
        nabm=acts,
        note=opt_str(raw, "note", where),
    )


def _act(item: object, where: str) -> NabmAct:
    raw = as_object(item, where, ("code", "b"))
    return NabmAct(code=req_str(raw, "code", where), b=opt_int(raw, "b", where))


def dump_catalog(catalog: Catalog) -> dict[str, object]:
    """The JSON-ready form of a catalogue; ``load_catalog_dict(dump_catalog(c)) == c``."""
    return {
        "version": catalog.version,
        "notes": catalog.notes,
        "sources": list(catalog.sources),
        "tests": [_dump_test(t) for t in catalog.tests],
        "panels": [
            {
                "code": p.code,
                "name_fr": p.name_fr,
                "tests": list(p.tests),
                "nabm": [{"code": a.code, "b": a.b} for a in p.nabm],
                "note": p.note,
            }
            for p in catalog.panels
        ],
    }


def _dump_test(test: TestDefinition) -> dict[str, object]:
    critical, delta, calc = test.critical, test.delta, test.calculated
    return {
        "code": test.code,
        "name_fr": test.name_fr,
        "name_en": test.name_en,
        "loinc": test.loinc,
        "nabm": test.nabm,
        "nabm_b": test.nabm_b,
        "unit": test.unit,
        "specimen": test.specimen,
        "tube": test.tube,
        "section": test.section,
        "result_type": test.result_type,
        "decimals": test.decimals,
        "coded_values": list(test.coded_values),
        "abnormal_codes": list(test.abnormal_codes),
        "reference_ranges": [
            {
                "sex": r.sex,
                "age_min_days": r.age_min_days,
                "age_max_days": r.age_max_days,
                "low": r.low,
                "high": r.high,
            }
            for r in test.reference_ranges
        ],
        "critical": None if critical is None else {"low": critical.low, "high": critical.high},
        "plausible": None if test.plausible is None else [test.plausible.low, test.plausible.high],
        "delta": None
        if delta is None
        else {"absolute": delta.absolute, "percent": delta.percent, "window_days": delta.window_days},
        "sensitivity": test.sensitivity,
        "calculated": None if calc is None else {"formula": calc.formula, "inputs": list(calc.inputs)},
        "source_checked": test.source_checked,
        "note": test.note,
    }
