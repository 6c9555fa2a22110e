"""Westgard multirules over one control series (one instrument, one test, one control lot). Pure.

Each point is its deviation from the lot's target mean in target SDs (its z-score), computed in
``Decimal`` from the values as sent, so that a value exactly 2 or 3 SD away is exactly 2 or 3 (a
float makes (4.2 - 4.0) / 0.1 = 2.0000000000000018 and would flag it).

Every rule needs a point to **exceed** its limit, strictly (Westgard's wording: "exceeds the mean
plus 2s"): a value exactly at mean + 2 SD is not a 1-2s, exactly at 3 SD not a 1-3s, exactly at
1 SD does not count towards 4-1s, and a value exactly at the mean breaks a 10x run.

Rules, each judged on the window that ends at the new point (most recent last):

- ``1-2s`` (warning): the point exceeds mean ± 2 SD;
- ``1-3s``: the point exceeds mean ± 3 SD;
- ``2-2s``: the point and the one before both exceed 2 SD on the same side;
- ``R-4s``: the point and the one before exceed 2 SD on opposite sides (one above +2 SD, the
  other below -2 SD: a range over 4 SD);
- ``4-1s``: the last 4 points all exceed 1 SD on the same side;
- ``10x``: the last 10 points all fall on the same side of the mean.

Every rule is evaluated on every point (the 1-2s warning does not gate the others: a 4-1s or 10x
shift shows without any 2 SD excursion). :func:`evaluate_across` applies 2-2s and R-4s across
two control levels measured in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum


class Rule(StrEnum):
    WARNING_1_2S = "1-2s"
    REJECT_1_3S = "1-3s"
    REJECT_2_2S = "2-2s"
    REJECT_R_4S = "R-4s"
    REJECT_4_1S = "4-1s"
    REJECT_10X = "10x"


REJECTIONS = frozenset(set(Rule) - {Rule.WARNING_1_2S})
ORDER = tuple(Rule)  # flags are reported in this order


class Status(StrEnum):
    """A point's standing: in control, a 1-2s warning only, or rejected by a rejection rule."""

    IN_CONTROL = "in_control"
    WARNING = "warning"
    REJECTED = "rejected"


TWO, THREE, ONE, ZERO = Decimal(2), Decimal(3), Decimal(1), Decimal(0)
MAX_DIGITS = 15  # significant digits of a QC value, mean or SD (an analyzer sends a few)
MAX_MAGNITUDE = 12  # powers of ten either way: 1e-12 to 1e12


class NotAQcValue(ValueError):
    """A QC value, mean or SD that is not a finite decimal number (or an SD that is not > 0)."""


def decimal_of(text: str, what: str = "value") -> Decimal:
    """A finite decimal from its text (``4.20``, ``-1e-3``); a comma is a decimal point."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except (InvalidOperation, AttributeError):
        raise NotAQcValue(f"{what} must be a decimal number") from None
    if not value.is_finite():
        raise NotAQcValue(f"{what} must be a finite decimal number")
    if len(value.as_tuple().digits) > MAX_DIGITS or (value and abs(value.adjusted()) > MAX_MAGNITUDE):
        raise NotAQcValue(
            f"{what} must have at most {MAX_DIGITS} digits, between 1e-{MAX_MAGNITUDE} and 1e{MAX_MAGNITUDE}"
        )
    return value


def z_score(value: Decimal, mean: Decimal, sd: Decimal) -> Decimal:
    """(value - mean) / sd, exact for the decimals QC values are."""
    if sd <= 0:
        raise NotAQcValue("the SD must be greater than 0")
    return (value - mean) / sd


@dataclass(frozen=True)
class Verdict:
    rules: tuple[Rule, ...]

    @property
    def status(self) -> Status:
        if any(rule in REJECTIONS for rule in self.rules):
            return Status.REJECTED
        return Status.WARNING if self.rules else Status.IN_CONTROL

    @property
    def rejections(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule in REJECTIONS)


def _side(z: Decimal, limit: Decimal) -> int:
    """+1 above mean + limit SD, -1 below mean - limit SD, 0 within (the limit itself: within)."""
    if z > limit:
        return 1
    if z < -limit:
        return -1
    return 0


def evaluate(history: Sequence[Decimal], z: Decimal) -> Verdict:
    """The rules the new point ``z`` breaks, given the series' earlier z-scores ``history``
    (oldest first; the points the rules may look back on)."""
    series = [*history, z]
    found: set[Rule] = set()
    if _side(z, TWO):
        found.add(Rule.WARNING_1_2S)
    if _side(z, THREE):
        found.add(Rule.REJECT_1_3S)
    if len(series) >= 2:
        found |= _pair(series[-2], z)
    last4 = series[-4:]
    if len(last4) == 4 and _same_side(last4, ONE):
        found.add(Rule.REJECT_4_1S)
    last10 = series[-10:]
    if len(last10) == 10 and _same_side(last10, ZERO):
        found.add(Rule.REJECT_10X)
    return Verdict(tuple(rule for rule in ORDER if rule in found))


def _pair(a: Decimal, b: Decimal) -> set[Rule]:
    """2-2s and R-4s over two points (consecutive in one series, or two levels of one run)."""
    side_a, side_b = _side(a, TWO), _side(b, TWO)
    if side_a and side_a == side_b:
        return {Rule.REJECT_2_2S}
    if side_a and side_b == -side_a:
        return {Rule.REJECT_R_4S}
    return set()


def _same_side(points: Sequence[Decimal], limit: Decimal) -> bool:
    sides = {_side(z, limit) for z in points}
    return len(sides) == 1 and 0 not in sides


def evaluate_across(level_a: Decimal, level_b: Decimal) -> tuple[Rule, ...]:
    """2-2s and R-4s across two control levels of one run (the same instrument and test, two
    lots, measured together): both beyond 2 SD on one side, or on opposite sides."""
    found = _pair(level_a, level_b)
    return tuple(rule for rule in ORDER if rule in found)
