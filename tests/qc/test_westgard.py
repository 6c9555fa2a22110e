"""Westgard rules on hand-computed series: lot mean 4.0, SD 0.1 (so 4.2 is exactly +2 SD, 4.3
exactly +3 SD, 4.1 exactly +1 SD), each rule on its own, and the boundaries: every limit is
exclusive (a point must exceed it)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from labvault.qc.westgard import (
    NotAQcValue,
    Rule,
    Status,
    decimal_of,
    evaluate,
    evaluate_across,
    z_score,
)

MEAN, SD = Decimal("4.0"), Decimal("0.1")


def zs(*values: str) -> list[Decimal]:
    return [z_score(decimal_of(v), MEAN, SD) for v in values]


def verdict(*values: str) -> tuple[tuple[str, ...], Status]:
    """The rules the last value breaks after the earlier ones."""
    *history, last = zs(*values)
    found = evaluate(history, last)
    return tuple(rule.value for rule in found.rules), found.status


def test_z_scores_are_exact_at_the_limits() -> None:
    assert zs("4.2", "4.3", "3.8", "3.7", "4.1") == [2, 3, -2, -3, 1]
    assert z_score(Decimal("4.2"), MEAN, SD) == Decimal(2)  # a float would give 2.0000000000000018
    assert decimal_of("4,25") == Decimal("4.25")


@pytest.mark.parametrize(
    "bad", ["", "abc", "NaN", "Infinity", "4.2.1", "1e13", "1e-13", "1234567890.1234567"]
)
def test_not_a_value(bad: str) -> None:
    with pytest.raises(NotAQcValue):
        decimal_of(bad)


def test_sd_must_be_positive() -> None:
    with pytest.raises(NotAQcValue):
        z_score(Decimal(1), MEAN, Decimal(0))


# --- 1-2s (warning) and 1-3s ----------------------------------------------------------------------


def test_in_control() -> None:
    assert verdict("4.0", "4.05", "3.95") == ((), Status.IN_CONTROL)


def test_exactly_2sd_is_not_a_warning() -> None:
    assert verdict("4.2") == ((), Status.IN_CONTROL)
    assert verdict("3.8") == ((), Status.IN_CONTROL)


def test_just_over_2sd_is_a_warning() -> None:
    assert verdict("4.21") == (("1-2s",), Status.WARNING)  # z = 2.1
    assert verdict("3.79") == (("1-2s",), Status.WARNING)  # z = -2.1


def test_exactly_3sd_is_a_warning_not_a_rejection() -> None:
    assert verdict("4.3") == (("1-2s",), Status.WARNING)
    assert verdict("3.7") == (("1-2s",), Status.WARNING)


def test_over_3sd_is_1_3s() -> None:
    assert verdict("4.31") == (("1-2s", "1-3s"), Status.REJECTED)  # z = 3.1
    assert verdict("3.69") == (("1-2s", "1-3s"), Status.REJECTED)  # z = -3.1


# --- 2-2s and R-4s ----------------------------------------------------------------------------------


def test_2_2s_two_consecutive_beyond_2sd_on_one_side() -> None:
    assert verdict("4.25", "4.22") == (("1-2s", "2-2s"), Status.REJECTED)  # z 2.5 then 2.2
    assert verdict("3.75", "3.78") == (("1-2s", "2-2s"), Status.REJECTED)  # z -2.5 then -2.2


def test_2_2s_boundary_exactly_2sd_does_not_count() -> None:
    assert verdict("4.25", "4.2") == ((), Status.IN_CONTROL)  # the second exactly +2 SD
    assert verdict("4.2", "4.25") == (("1-2s",), Status.WARNING)  # the first exactly +2 SD


def test_2_2s_needs_consecutive_points() -> None:
    assert verdict("4.25", "4.0", "4.22") == (("1-2s",), Status.WARNING)


def test_r_4s_opposite_sides() -> None:
    assert verdict("4.21", "3.79") == (("1-2s", "R-4s"), Status.REJECTED)  # +2.1 then -2.1
    assert verdict("3.75", "4.25") == (("1-2s", "R-4s"), Status.REJECTED)


def test_r_4s_boundary_exactly_at_minus_2sd() -> None:
    # +2.5 then exactly -2: a range of 4.5 SD, yet not R-4s (the second does not exceed -2 SD)
    assert verdict("4.25", "3.8") == ((), Status.IN_CONTROL)


# --- 4-1s -------------------------------------------------------------------------------------------


def test_4_1s_four_consecutive_beyond_1sd_on_one_side() -> None:
    assert verdict("4.11", "4.15", "4.12", "4.18") == (("4-1s",), Status.REJECTED)
    assert verdict("3.89", "3.85", "3.88", "3.82") == (("4-1s",), Status.REJECTED)


def test_4_1s_boundary_exactly_1sd_does_not_count() -> None:
    assert verdict("4.11", "4.15", "4.1", "4.18") == ((), Status.IN_CONTROL)
    assert verdict("4.11", "4.15", "4.12", "4.1") == ((), Status.IN_CONTROL)


def test_4_1s_needs_four_points_and_one_side() -> None:
    assert verdict("4.11", "4.15", "4.12") == ((), Status.IN_CONTROL)
    assert verdict("4.11", "3.85", "4.12", "4.18") == ((), Status.IN_CONTROL)


# --- 10x --------------------------------------------------------------------------------------------


ABOVE = ["4.01", "4.02", "4.05", "4.03", "4.01", "4.04", "4.02", "4.06", "4.01"]  # nine, all within 1 SD


def test_10x_ten_consecutive_on_one_side() -> None:
    assert verdict(*ABOVE, "4.02") == (("10x",), Status.REJECTED)
    below = [str(2 * MEAN - Decimal(v)) for v in ABOVE]
    assert verdict(*below, "3.98") == (("10x",), Status.REJECTED)


def test_10x_nine_are_not_enough() -> None:
    assert verdict(*ABOVE) == ((), Status.IN_CONTROL)


def test_10x_a_point_exactly_at_the_mean_breaks_the_run() -> None:
    assert verdict(*ABOVE, "4.0") == ((), Status.IN_CONTROL)
    assert verdict("4.0", *ABOVE) == ((), Status.IN_CONTROL)
    assert verdict("3.99", *ABOVE, "4.02") == (("10x",), Status.REJECTED)  # the last ten only


# --- several at once, and across levels -------------------------------------------------------------


def test_several_rules_are_all_reported() -> None:
    # z: 1.5, 1.5, 2.5, 3.5: 1-2s, 1-3s, 2-2s, 4-1s on the last point
    assert verdict("4.15", "4.15", "4.25", "4.35") == (("1-2s", "1-3s", "2-2s", "4-1s"), Status.REJECTED)


def test_across_two_levels_of_one_run() -> None:
    assert evaluate_across(Decimal("2.5"), Decimal("2.1")) == (Rule.REJECT_2_2S,)
    assert evaluate_across(Decimal("2.5"), Decimal("-2.1")) == (Rule.REJECT_R_4S,)
    assert evaluate_across(Decimal("2.5"), Decimal("2")) == ()
    assert evaluate_across(Decimal("-2"), Decimal("2")) == ()
