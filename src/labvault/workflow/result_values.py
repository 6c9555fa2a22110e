"""Reading a typed-in result against its test: parse, round, flag, pick the range, compare with the
previous result. Pure: no I/O, so the rules are tested on their own."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from labvault.catalog.flags import Flag, delta_check, flag_coded, flag_numeric
from labvault.catalog.model import Sex, TestDefinition
from labvault.catalog.ranges import select_range
from labvault.errors import InvalidInput
from labvault.reports.templates import range_text, unit_display

MAX_TEXT_RESULT = 2000
MAX_COMMENT = 1000
# Digits a numeric result may have, integer and fraction together: every such decimal survives the
# float it is computed with unchanged (doubles hold 15 significant digits exactly).
MAX_DIGITS = 15
# The whole grammar (docs/WORKFLOW.md): optional sign, ASCII digits, at most one decimal separator
# (comma or point) with digits on both sides. No exponent, no digit grouping, no other script's digits.
DECIMAL = re.compile(r"(?P<sign>[+-]?)(?P<integer>[0-9]+)(?:[.,](?P<fraction>[0-9]+))?")
_NON_FINITE = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)
_BARE_SEPARATOR = re.compile(r"[+-]?(?:[.,][0-9]+|[0-9]+[.,])")
_GROUPING = frozenset("_ '\u00a0\u2009\u202f")
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


def plain(number: float) -> str:
    """A finite number in positional notation, without float noise (1000000000, not 1e+09)."""
    text = format(Decimal(repr(number)).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def format_number(test: TestDefinition, number: float) -> str:
    if test.decimals is None:
        return plain(number)
    return f"{number:.{test.decimals}f}"


def parse_number(field: str, text: str) -> float:
    """A result typed as a plain decimal (``DECIMAL``), or a refusal saying which rule it breaks.

    The reasons never echo the value. ``-0`` is refused rather than read as 0: a sign on a zero says
    nothing a result can mean, so it is a slip (a lost digit) or an analyser's rounded negative, and
    guessing which would put a value in the record that nobody entered.
    """
    cleaned = text.strip()
    found = DECIMAL.fullmatch(cleaned)
    if found is None:
        raise InvalidInput(field, _why_not_decimal(cleaned))
    digits = found["integer"] + (found["fraction"] or "")
    if len(digits) > MAX_DIGITS:
        raise InvalidInput(field, f"has more than {MAX_DIGITS} digits")
    if found["sign"] == "-" and not digits.strip("0"):
        raise InvalidInput(field, "is a zero with a minus sign: write 0")
    number = float(cleaned.replace(",", "."))
    if not math.isfinite(number):  # unreachable within MAX_DIGITS; kept as the last line of defence
        raise InvalidInput(field, "is not a finite number")
    return number


def _why_not_decimal(text: str) -> str:
    """The rule of the grammar a refused value breaks, most specific first."""
    if not text:
        return "is not a number: it is empty"
    if _NON_FINITE.fullmatch(text):
        return "is not a finite number"
    if any(not char.isascii() and (char.isdigit() or char.isnumeric()) for char in text):
        return "must be written with the digits 0-9 (no other script's digits nor fractions)"
    if any(char in _GROUPING for char in text):
        return "must not group digits (no '_', space or apostrophe between them)"
    if any(char in "eE" for char in text) and any(char.isdigit() for char in text):
        return "must not use an exponent (e or E): write the number out"
    if sum(char in ".," for char in text) > 1:
        return "has more than one decimal separator"
    if _BARE_SEPARATOR.fullmatch(text):
        return "needs a digit on each side of the decimal separator"
    return "is not a number (digits, at most one ',' or '.' and an optional sign)"


def stored_number(text: str | None) -> float | None:
    """A stored result value as a float, or None when it is not a finite number. Values entered
    before the strict grammar (a long or mangled number) still read: history keeps showing them."""
    if text is None:
        return None
    try:
        number = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def check_plausible(field: str, test: TestDefinition, number: float) -> None:
    """Refuse a value outside the test's plausible limits, naming the test and the limit (not the value)."""
    limits = test.plausible_limits
    if limits.contains(number):
        return
    side, limit = ("below", limits.low) if number < limits.low else ("above", limits.high)
    unit = unit_display(test.unit)
    shown = f"{plain(limit)} {unit}" if unit else plain(limit)
    raise InvalidInput(field, f"is {side} the plausible limit of {test.code} ({test.name_en}): {shown}")


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
        if number < 0 <= test.plausible_limits.low:
            # A sign the test cannot have: -0.4 platelets is refused, not rounded into a plausible 0.
            check_plausible(field, test, number)
        if test.decimals is not None:
            number = round(number, test.decimals) + 0.0  # + 0.0: a rounded -0.001 reads 0, not -0
        check_plausible(field, test, number)  # the limits read the value as stored (rounded)
        flag = flag_numeric(test, number, sex, age_days).value
        chosen = select_range(test, sex, age_days)
        if chosen is not None:
            interpretation["range"] = [chosen.low, chosen.high]
        if previous is not None:
            before = stored_number(previous.value)
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
