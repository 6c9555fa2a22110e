"""Result flags and delta checks: what the validating biologist must look at first.

Limits are inclusive on the normal side: a value equal to a range or critical limit is not flagged.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from labvault.catalog.model import DeltaRule, Sex, TestDefinition
from labvault.catalog.ranges import select_range
from labvault.errors import InvalidInput


class Flag(enum.StrEnum):
    """HL7 v2 table 0078 abnormal flags, the ones a French report prints next to a value."""

    N = "N"
    L = "L"
    H = "H"
    LL = "LL"
    HH = "HH"
    A = "A"


def _finite(test: TestDefinition, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidInput(f"results.{test.code}", "is not a finite number")


def flag_numeric(test: TestDefinition, value: float, sex: Sex | None, age_days: int) -> Flag:
    """LL/HH beyond a critical limit (whatever the range), else L/H outside the patient's range, else N.

    Without an applicable range (e.g. a child and adult-only ranges) only critical limits can flag.
    """
    if test.result_type != "numeric":
        raise InvalidInput(f"results.{test.code}", "is not a numeric test")
    _finite(test, value)
    critical = test.critical
    if critical is not None:
        if critical.low is not None and value < critical.low:
            return Flag.LL
        if critical.high is not None and value > critical.high:
            return Flag.HH
    interval = select_range(test, sex, age_days)
    if interval is not None:
        if interval.low is not None and value < interval.low:
            return Flag.L
        if interval.high is not None and value > interval.high:
            return Flag.H
    return Flag.N


def flag_coded(test: TestDefinition, code: str) -> Flag:
    """A for a code the catalogue lists as abnormal, N for the other allowed codes."""
    if test.result_type != "coded":
        raise InvalidInput(f"results.{test.code}", "is not a coded test")
    if code not in test.coded_values:
        raise InvalidInput(f"results.{test.code}", f"must be one of {', '.join(test.coded_values)}")
    return Flag.A if code in test.abnormal_codes else Flag.N


@dataclass(frozen=True)
class DeltaResult:
    """A change from the previous result that exceeds the test's delta rule."""

    test_code: str
    previous_value: float
    value: float
    change: float
    percent_change: float | None
    days_between: float
    rule: DeltaRule


def delta_check(
    test: TestDefinition, value: float, previous_value: float, days_between: float
) -> DeltaResult | None:
    """The exceeded delta, or None: no rule, previous result too old, or change within the threshold.

    The percent threshold is relative to the previous value; a zero baseline only supports the absolute one.
    """
    rule = test.delta
    if rule is None:
        return None
    _finite(test, value)
    _finite(test, previous_value)
    if not math.isfinite(days_between) or days_between < 0:
        raise InvalidInput("days_between", "must be a non-negative number of days")
    if days_between > rule.window_days:
        return None
    change = value - previous_value
    percent = abs(change) / abs(previous_value) * 100 if previous_value != 0 else None
    exceeded = (rule.absolute is not None and abs(change) > rule.absolute) or (
        rule.percent is not None and percent is not None and percent > rule.percent
    )
    if not exceeded:
        return None
    return DeltaResult(test.code, previous_value, value, change, percent, days_between, rule)
