"""Reading a typed-in result against its test: parse, round, flag, pick the range, compare with the
previous result. Pure: no I/O, so the rules are tested on their own."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from labvault.catalog.flags import Flag, delta_check, flag_coded, flag_numeric
from labvault.catalog.model import Sex, TestDefinition
from labvault.catalog.ranges import select_range
from labvault.errors import InvalidInput
from labvault.reports.templates import range_text

MAX_TEXT_RESULT = 2000
MAX_COMMENT = 1000
CRITICAL_FLAGS = frozenset({Flag.LL.value, Flag.HH.value})


@dataclass(frozen=True)
class Previous:
    """The patient's last validated result of the same test, from an earlier order."""

    value: str
    date: dt.date
    result_id: str


@dataclass(frozen=True)
class Interpreted:
    value: str  # as printed on the report (numeric values rounded to the test's decimals)
    flag: str
    interpretation: dict[str, Any]  # unit, range used, previous result and delta: stored encrypted


def format_number(test: TestDefinition, number: float) -> str:
    if test.decimals is None:
        return f"{number:g}"
    return f"{number:.{test.decimals}f}"


def parse_number(field: str, text: str) -> float:
    cleaned = text.strip().replace(",", ".")
    try:
        number = float(cleaned)
    except ValueError:
        raise InvalidInput(field, "is not a number") from None
    if not math.isfinite(number):
        raise InvalidInput(field, "is not a finite number")
    return number


def interpret(
    field: str,
    test: TestDefinition,
    raw: str,
    sex: Sex | None,
    age_days: int,
    previous: Previous | None,
    on: dt.date,
) -> Interpreted:
    """Validate ``raw`` for ``test`` and compute what the biologist and the report need."""
    interpretation: dict[str, Any] = {"unit": test.unit, "range": None, "previous": None, "delta": None}
    if previous is not None and test.result_type != "text":
        interpretation["previous"] = {
            "value": previous.value,
            "date": previous.date.isoformat(),
            "result_id": previous.result_id,
        }
    if test.result_type == "numeric":
        number = parse_number(field, raw)
        if number < 0:
            raise InvalidInput(field, "must not be negative")
        if test.decimals is not None:
            number = round(number, test.decimals)
        flag = flag_numeric(test, number, sex, age_days).value
        chosen = select_range(test, sex, age_days)
        if chosen is not None:
            interpretation["range"] = [chosen.low, chosen.high]
        if previous is not None:
            try:
                before = parse_number("previous", previous.value)
            except InvalidInput:
                before = None
            days = max((on - previous.date).days, 0)
            found = delta_check(test, number, before, days) if before is not None else None
            if found is not None:
                interpretation["delta"] = {
                    "change": round(found.change, 6),
                    "percent": None if found.percent_change is None else round(found.percent_change, 1),
                    "days": found.days_between,
                }
        return Interpreted(format_number(test, number), flag, interpretation)
    if test.result_type == "coded":
        wanted = raw.strip()
        canonical = next((c for c in test.coded_values if c.lower() == wanted.lower()), None)
        if canonical is None:
            raise InvalidInput(field, f"must be one of {', '.join(test.coded_values)}")
        return Interpreted(canonical, flag_coded(test, canonical).value, interpretation)
    text = " ".join(raw.split())
    if not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > MAX_TEXT_RESULT:
        raise InvalidInput(field, f"must be at most {MAX_TEXT_RESULT} characters")
    return Interpreted(text, Flag.N.value, interpretation)


def clean_comment(field: str, comment: str | None) -> str | None:
    if comment is None:
        return None
    cleaned = " ".join(comment.split())
    if len(cleaned) > MAX_COMMENT:
        raise InvalidInput(field, f"must be at most {MAX_COMMENT} characters")
    return cleaned or None


def reference_text(interpretation: dict[str, Any], test: TestDefinition | None) -> str | None:
    """The range used for a result, as printed next to it, with the test's decimals."""
    chosen = interpretation.get("range")
    if not chosen:
        return None

    def show(x: float) -> str:
        return format_number(test, x) if test is not None else f"{x:g}"

    return range_text(chosen[0], chosen[1], show)
