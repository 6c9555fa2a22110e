"""The inline SVG trend chart of the cumulative history."""

from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET

import pytest

from labvault.reports.trend_chart import trend_chart_svg
from labvault.reports.view import HistorySeries, TrendPoint

SVG = "{http://www.w3.org/2000/svg}"


def series(
    points: list[tuple[dt.date, float]], low: float | None = 12.0, high: float | None = 16.0
) -> HistorySeries:
    return HistorySeries(
        test_code="HB",
        test_name="Hémoglobine",
        unit="g/dL",
        low=low,
        high=high,
        points=tuple(TrendPoint(date, value) for date, value in points),
    )


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed


def polyline(root: ET.Element) -> list[tuple[float, float]]:
    element = root.find(f"{SVG}polyline")
    assert element is not None
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in element.attrib["points"].split())]


def band(root: ET.Element) -> ET.Element | None:
    return next((rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "band"), None)


def test_points_are_joined_in_date_order() -> None:
    chart = series([(dt.date(2026, 3, 1), 15.0), (dt.date(2025, 1, 1), 11.0), (dt.date(2025, 6, 1), 13.0)])
    coords = polyline(parse(trend_chart_svg(chart)))
    xs = [x for x, _ in coords]
    assert xs == sorted(xs) and len(set(xs)) == 3
    ys = [y for _, y in coords]
    assert ys[0] > ys[1] > ys[2]  # 11 < 13 < 15: higher values are drawn higher (smaller y)
    circles = list(parse(trend_chart_svg(chart)).iter(f"{SVG}circle"))
    assert [c.get("class") for c in circles] == ["point out", "point", "point"]  # 11 is below 12


def test_reference_band_spans_low_to_high() -> None:
    root = parse(trend_chart_svg(series([(dt.date(2025, 1, 1), 10.0), (dt.date(2025, 2, 1), 18.0)])))
    rect = band(root)
    assert rect is not None
    coords = polyline(root)
    top, bottom = float(rect.attrib["y"]), float(rect.attrib["y"]) + float(rect.attrib["height"])
    assert top < bottom
    assert coords[0][1] > bottom  # 10 is under the band
    assert coords[1][1] < top  # 18 is above it
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "y-label"]
    assert labels == ["12", "16"]


def test_one_sided_and_missing_ranges() -> None:
    only_high = parse(trend_chart_svg(series([(dt.date(2025, 1, 1), 3.0)], low=None, high=5.0)))
    rect, frame = band(only_high), only_high.find(f"{SVG}rect")
    assert rect is not None and frame is not None
    frame_bottom = float(frame.attrib["y"]) + float(frame.attrib["height"])
    assert float(rect.attrib["y"]) + float(rect.attrib["height"]) == frame_bottom  # shaded down to the edge
    assert band(parse(trend_chart_svg(series([(dt.date(2025, 1, 1), 3.0)], low=None, high=None)))) is None


def test_empty_series_says_so() -> None:
    svg = trend_chart_svg(series([]))
    root = parse(svg)
    assert root.find(f"{SVG}polyline") is None and root.find(f"{SVG}circle") is None
    assert "Aucun résultat validé" in svg


def test_single_point_is_a_lone_centred_marker() -> None:
    root = parse(trend_chart_svg(series([(dt.date(2025, 5, 1), 14.0)]), width=400))
    assert root.find(f"{SVG}polyline") is None
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 1
    frame = root.find(f"{SVG}rect")
    assert frame is not None
    centre = float(frame.attrib["x"]) + float(frame.attrib["width"]) / 2
    assert float(circles[0].attrib["cx"]) == centre
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "x-label"] == ["01/05/2025"]


def test_flat_series_and_same_day_points_do_not_divide_by_zero() -> None:
    day = dt.date(2025, 5, 1)
    root = parse(trend_chart_svg(series([(day, 4.0), (day, 4.0)], low=None, high=None)))
    assert len(polyline(root)) == 2


def test_chart_is_deterministic_and_escapes_text() -> None:
    chart = HistorySeries("X", "Test <b>", "<unit>", 1.0, 2.0, (TrendPoint(dt.date(2025, 1, 1), 1.5),))
    svg = trend_chart_svg(chart)
    assert svg == trend_chart_svg(chart)
    assert "<b>" not in svg and "<unit>" not in svg
    assert "Test &lt;b&gt; (&lt;unit&gt;)" in svg
    parse(svg)


# --- extreme values: never a non-finite number in the output --------------------------------------

GEOMETRY = ("x", "y", "width", "height", "cx", "cy", "r")


def drawn_numbers(root: ET.Element) -> list[float]:
    """Every number the chart draws with: coordinates, sizes and the polyline's points."""
    numbers: list[float] = []
    for element in root.iter():
        numbers.extend(float(element.attrib[name]) for name in GEOMETRY if name in element.attrib)
        if "points" in element.attrib:
            numbers.extend(float(v) for pair in element.attrib["points"].split() for v in pair.split(","))
    return numbers


@pytest.mark.parametrize(
    ("values", "low", "high"),
    [
        ([999999999999999.0, 0.0], 3.5, 5.0),  # the largest value entry accepts, and zero
        ([1e308, 1.7e308], 3.5, 5.0),  # the probe's values, stored before the grammar: inf, then nan
        ([1e308, 0.0], 3.5, 5.0),
        ([-1.7e308, 1.7e308], None, None),
        ([1.0000000000000000476e26, 4.0], 3.5, 5.0),  # the probe's mangled 10^26
        ([5e-324, 0.0], None, None),  # a span too small to pad
        ([4.0, 4.0 + 1e-15], 4.0, 4.0 + 1e-15),
        ([4.0, float("nan"), float("inf"), -float("inf")], 3.5, 5.0),  # left out, never drawn
        ([4.0, 6.0], float("nan"), float("inf")),  # a non-finite bound is no bound
    ],
)
def test_extreme_values_give_finite_coordinates_inside_the_frame(
    values: list[float], low: float | None, high: float | None
) -> None:
    start = dt.date(2025, 1, 1)
    chart = series([(start + dt.timedelta(days=i), v) for i, v in enumerate(values)], low=low, high=high)
    svg = trend_chart_svg(chart)
    root = parse(svg)
    numbers = drawn_numbers(root)
    assert numbers and all(math.isfinite(n) for n in numbers)
    lowered = svg.lower()
    assert "nan" not in lowered and "inf" not in lowered
    frame = root.find(f"{SVG}rect")
    assert frame is not None
    top, bottom = float(frame.attrib["y"]), float(frame.attrib["y"]) + float(frame.attrib["height"])
    cys = [float(c.attrib["cy"]) for c in root.iter(f"{SVG}circle")]
    assert len(cys) == sum(1 for v in values if math.isfinite(v))
    assert all(top <= cy <= bottom for cy in cys), cys


def test_extreme_values_keep_their_order_on_the_axis() -> None:
    start = dt.date(2025, 1, 1)
    chart = series([(start, 1e308), (start + dt.timedelta(days=1), 4.0), (start + dt.timedelta(days=2), 0.0)])
    ys = [y for _, y in polyline(parse(trend_chart_svg(chart)))]
    assert ys[0] < ys[1] <= ys[2]  # the largest drawn highest
