"""The inline SVG trend chart of the cumulative history."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

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
