"""Reports, cumulative history and tube label sheets, from their views to HTML and PDF.

The HTML is self-contained (inline CSS and SVG, no script) so the web UI can serve the very same
document; the PDF is that HTML through WeasyPrint, identical bytes for identical views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup

from labvault.reports.barcode_svg import code128_svg
from labvault.reports.pdf import html_to_pdf
from labvault.reports.templates import environment, range_text
from labvault.reports.trend_chart import trend_chart_svg
from labvault.reports.view import HistorySeries, HistoryView, LabelView, ReportView, ResultLine, TrendPoint

__all__ = [
    "render_history_html",
    "render_history_pdf",
    "render_labels_html",
    "render_labels_pdf",
    "render_report_html",
    "render_report_pdf",
]

_A4_MM: Final = (210.0, 297.0)
_LABEL_PADDING_MM: Final = 2.5


def _sections(lines: Sequence[ResultLine]) -> list[tuple[str, list[ResultLine]]]:
    """Lines grouped by section, sections in order of first appearance, lines in the view's order."""
    grouped: dict[str, list[ResultLine]] = {}
    for line in lines:
        grouped.setdefault(line.section, []).append(line)
    return list(grouped.items())


def render_report_html(view: ReportView) -> str:
    """The report as a standalone HTML page (also what the PDF is made from)."""
    return environment().get_template("report.html").render(view=view, sections=_sections(view.lines))


def render_report_pdf(view: ReportView) -> bytes:
    """The report as PDF; the same view always gives the same bytes (dates come from ``issued_at``)."""
    return html_to_pdf(render_report_html(view))


@dataclass(frozen=True)
class _SeriesBlock:
    series: HistorySeries
    reference: str
    chart: Markup
    rows: list[tuple[TrendPoint, str | None]]


def _reference(series: HistorySeries) -> str:
    return range_text(series.low, series.high) or "non définies"


def _flag(series: HistorySeries, point: TrendPoint) -> str | None:
    if series.low is not None and point.value < series.low:
        return "L"
    if series.high is not None and point.value > series.high:
        return "H"
    return None


def _series_block(series: HistorySeries) -> _SeriesBlock:
    points = sorted(series.points, key=lambda point: point.date)
    return _SeriesBlock(
        series=series,
        reference=_reference(series),
        chart=Markup(trend_chart_svg(series)),  # noqa: S704 - trend_chart escapes every text it writes
        rows=[(point, _flag(series, point)) for point in points],
    )


def render_history_html(view: HistoryView) -> str:
    """The cumulative history: per numeric test, a trend chart over its reference band and the values."""
    blocks = [_series_block(series) for series in view.series]
    return environment().get_template("history.html").render(view=view, series=blocks)


def render_history_pdf(view: HistoryView) -> bytes:
    """The cumulative history as PDF, dated ``generated_at`` and reproducible like the report."""
    return html_to_pdf(render_history_html(view))


@dataclass(frozen=True)
class _Sheet:
    width: str
    height: str
    label_width: str
    label_height: str
    padding: str


@dataclass(frozen=True)
class _Cell:
    label: LabelView
    barcode: Markup
    left: str
    top: str


def _mm(value: float) -> str:
    return f"{value:.3f}"


def render_labels_html(labels: Sequence[LabelView], *, columns: int = 3, rows: int = 8) -> str:
    """An A4 label sheet: ``columns`` x ``rows`` labels per page, filled row by row, margins-free.

    Raises ValueError for no labels (a blank sheet would be wasted) or a grid smaller than 1 x 1, and
    (from the barcode) for a barcode too long to scan at the label's width.
    """
    if not labels:
        raise ValueError("no labels to print")
    if columns < 1 or rows < 1:
        raise ValueError("a label sheet needs at least one column and one row")
    width, height = _A4_MM
    label_w, label_h = width / columns, height / rows
    per_page = columns * rows
    pages: list[list[_Cell]] = []
    for start in range(0, len(labels), per_page):
        page = []
        for index, label in enumerate(labels[start : start + per_page]):
            row, column = divmod(index, columns)
            svg = code128_svg(label.barcode, width_mm=label_w - 2 * _LABEL_PADDING_MM)
            # python-barcode writes the SVG through xml.dom.minidom, which escapes the barcode text.
            page.append(_Cell(label, Markup(svg), _mm(column * label_w), _mm(row * label_h)))  # noqa: S704
        pages.append(page)
    sheet = _Sheet(_mm(width), _mm(height), _mm(label_w), _mm(label_h), _mm(_LABEL_PADDING_MM))
    return environment().get_template("labels.html").render(pages=pages, sheet=sheet)


def render_labels_pdf(labels: Sequence[LabelView], *, columns: int = 3, rows: int = 8) -> bytes:
    """The label sheet as PDF, one page per ``columns * rows`` labels, each with a Code 128 barcode."""
    return html_to_pdf(render_labels_html(labels, columns=columns, rows=rows))
