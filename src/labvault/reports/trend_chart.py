"""A small inline SVG line chart of one test's results over time, its reference range shaded.

Built as plain text with fixed-precision numbers: no plotting library, no fonts of its own beyond
DejaVu Sans, so the same series always gives the same bytes, in the PDF and in a browser alike.
"""

from __future__ import annotations

import math
from html import escape
from typing import Final

from labvault.reports.templates import date_fr, format_value, unit_display
from labvault.reports.view import HistorySeries, TrendPoint

__all__ = ["trend_chart_svg"]

_LEFT: Final = 56.0  # room for the value labels of the y axis
_RIGHT: Final = 16.0
_TOP: Final = 10.0
_BOTTOM: Final = 22.0  # room for the first and last dates
_FONT: Final = 'font-family="DejaVu Sans" font-size="9"'
_BLUE: Final = "#1f4e79"
_RED: Final = "#c0392b"  # out-of-range points
# Values are placed on the axis clamped to this magnitude: the scale's arithmetic then never
# overflows to inf or nan, whatever a stored value is (entry refuses more than 15 digits anyway).
_CLAMP: Final = 1e15


def _n(value: float) -> str:
    """Coordinates with two decimals: enough for print, and no float repr noise in the output."""
    if not math.isfinite(value):  # the clamping below makes this unreachable: fail loudly, never draw it
        raise ValueError("a chart coordinate is not a finite number")
    return f"{value:.2f}"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _clamp(value: float) -> float:
    """Where a finite value sits on the axis."""
    return max(-_CLAMP, min(_CLAMP, value))


def trend_chart_svg(series: HistorySeries, *, width: int = 560, height: int = 170) -> str:
    """An ``<svg>`` element: points joined in date order, the [low, high] band shaded behind them.

    A missing bound shades to the edge of the plot (``< 5`` shades everything below 5); no bound, no
    band. Out-of-range points are drawn apart (class ``out``). An empty series gives a framed
    "no result" message, a single point a lone marker.
    """
    shown_unit = unit_display(series.unit)
    title = escape(series.test_name + (f" ({shown_unit})" if shown_unit else ""))
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    parts = [
        f'<svg class="trend-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Évolution : {title}">',
        f'<rect class="frame" x="{_n(_LEFT)}" y="{_n(_TOP)}" width="{_n(plot_w)}" height="{_n(plot_h)}" '
        'fill="#ffffff" stroke="#888888" stroke-width="0.8"/>',
    ]
    # Stable sort: same-day results keep their order. A non-finite value has no place on an axis.
    points = sorted((p for p in series.points if math.isfinite(p.value)), key=lambda point: point.date)
    low, high = _finite(series.low), _finite(series.high)
    if not points:
        parts.append(
            f'<text x="{_n(_LEFT + plot_w / 2)}" y="{_n(_TOP + plot_h / 2)}" text-anchor="middle" '
            f'{_FONT} fill="#555555">Aucun résultat validé</text>'
        )
        parts.append("</svg>")
        return "".join(parts)

    bounds = [b for b in (low, high) if b is not None]
    placed = [_clamp(value) for value in [p.value for p in points] + bounds]
    lowest, highest = min(placed), max(placed)
    pad = (highest - lowest) * 0.08 if highest > lowest else max(abs(lowest) * 0.1, 1.0)
    y_min, y_max = lowest - pad, highest + pad
    if not y_max > y_min:  # a span too small for floats to pad
        y_min, y_max = lowest - 1.0, highest + 1.0

    def y(value: float) -> float:
        return _TOP + plot_h * (y_max - _clamp(value)) / (y_max - y_min)

    first, last = points[0].date.toordinal(), points[-1].date.toordinal()

    def x(point: TrendPoint) -> float:
        if last == first:
            return _LEFT + plot_w / 2
        return _LEFT + plot_w * (point.date.toordinal() - first) / (last - first)

    if bounds:
        band_top = y(high) if high is not None else _TOP
        band_bottom = y(low) if low is not None else _TOP + plot_h
        parts.append(
            f'<rect class="band" x="{_n(_LEFT)}" y="{_n(band_top)}" width="{_n(plot_w)}" '
            f'height="{_n(band_bottom - band_top)}" fill="#d9ecd9"/>'
        )
    # Axis labels: the band's bounds when there are some (what the reader compares against), else
    # the extreme values.
    for value in bounds or sorted({lowest, highest}):
        parts.append(
            f'<text class="y-label" x="{_n(_LEFT - 4)}" y="{_n(y(value) + 3)}" text-anchor="end" '
            f'{_FONT} fill="#333333">{escape(format_value(value))}</text>'
        )
    ends = [(points[0], "start"), (points[-1], "end")]
    date_labels = [(points[0], "middle")] if last == first else ends
    for point, anchor in date_labels:
        parts.append(
            f'<text class="x-label" x="{_n(x(point))}" y="{_n(height - 6)}" text-anchor="{anchor}" '
            f'{_FONT} fill="#333333">{date_fr(point.date)}</text>'
        )
    if len(points) > 1:
        coords = " ".join(f"{_n(x(p))},{_n(y(p.value))}" for p in points)
        parts.append(
            f'<polyline class="line" points="{coords}" fill="none" stroke="{_BLUE}" stroke-width="1.5"/>'
        )
    for point in points:
        out = (low is not None and point.value < low) or (high is not None and point.value > high)
        kind, colour = ("point out", _RED) if out else ("point", _BLUE)
        unit = f" {escape(unit_display(series.unit))}" if unit_display(series.unit) else ""
        tooltip = f"{date_fr(point.date)} : {escape(format_value(point.value))}{unit}"
        parts.append(
            f'<circle class="{kind}" cx="{_n(x(point))}" cy="{_n(y(point.value))}" r="3" fill="{colour}">'
            f"<title>{tooltip}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
