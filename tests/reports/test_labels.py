"""Tube label sheets and their Code 128 barcodes."""

from __future__ import annotations

import datetime as dt
import io
import re
from itertools import groupby

import pytest
from barcode import Code128
from pypdf import PdfReader

from labvault.reports.barcode_svg import MIN_MODULE_MM, code128_pattern, code128_svg
from labvault.reports.render import render_labels_html, render_labels_pdf
from labvault.reports.view import LabelView

# Code 128 start patterns (sets A, B, C) and the stop pattern with its final bar.
_STARTS = ("11010000100", "11010010000", "11010011100")
_STOP = "1100011101011"


def label(index: int, patient_line: str = "T. A. — 12/03/1985") -> LabelView:
    return LabelView(
        barcode=f"LAB1-26-{index:06d}",
        accession=f"LAB1-2026-{index:06d}",
        tube="Tube violet EDTA",
        specimen="Sang total",
        patient_line=patient_line,
        collected_on=dt.date(2026, 3, 2),
    )


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.parametrize(
    ("count", "columns", "rows", "expected_pages"),
    [(1, 3, 8, 1), (24, 3, 8, 1), (25, 3, 8, 2), (49, 3, 8, 3), (11, 2, 5, 2)],
)
def test_one_page_per_columns_times_rows_labels(
    count: int, columns: int, rows: int, expected_pages: int
) -> None:
    pdf = render_labels_pdf([label(i) for i in range(count)], columns=columns, rows=rows)
    texts = pages(pdf)
    assert len(texts) == expected_pages
    per_page = columns * rows
    for number, text in enumerate(texts):
        on_page = range(number * per_page, min(count, (number + 1) * per_page))
        assert text.count("LAB1-2026-") == len(on_page)
        assert f"LAB1-2026-{on_page[0]:06d}" in text


def test_label_text_barcode_text_and_initials_only() -> None:
    view = label(7, patient_line="T. A. — 12/03/1985")
    text = pages(render_labels_pdf([view]))[0]
    assert "LAB1-26-000007" in text  # the human-readable line under the bars
    assert "LAB1-2026-000007" in text
    assert "Tube violet EDTA — Sang total" in text
    assert "T. A. — 12/03/1985" in text
    assert "Prélevé le 02/03/2026" in text
    assert "TESTNOM" not in text and "Alice" not in text


def test_label_sheet_is_byte_identical() -> None:
    views = [label(i) for i in range(5)]
    assert render_labels_pdf(views) == render_labels_pdf(views)


def test_label_html_escapes_and_has_no_duplicate_ids() -> None:
    html = render_labels_html([label(1, patient_line="<b>TESTNOM</b>"), label(2)])
    assert "&lt;b&gt;TESTNOM&lt;/b&gt;" in html
    assert "<b>" not in html
    assert " id=" not in html
    assert html.count('<svg class="barcode"') == 2


def test_label_sheet_rejects_nothing_to_print_and_empty_grids() -> None:
    with pytest.raises(ValueError, match="no labels"):
        render_labels_pdf([])
    with pytest.raises(ValueError, match="column"):
        render_labels_pdf([label(1)], columns=0)


def test_barcode_draws_python_barcode_code128_with_readable_text() -> None:
    data = "LAB1-26-000042"
    svg = code128_svg(data, width_mm=60)
    pattern = code128_pattern(data)
    assert pattern == Code128(data).build()[0]
    assert pattern.startswith(_STARTS) and pattern.endswith(_STOP)
    # The bars drawn are exactly the runs of "1" in the pattern, each as wide as its run.
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+mm" y="[\d.]+mm" width="([\d.]+)mm"', svg)]
    runs = [len(list(run)) for bit, run in groupby(pattern) if bit == "1"]
    module = widths[0] / runs[0]
    assert module >= MIN_MODULE_MM
    assert widths == pytest.approx([run * module for run in runs], abs=1e-3)
    assert re.findall(r"<text [^>]*>([^<]*)</text>", svg) == [data]
    assert svg.startswith('<svg class="barcode" font-family="DejaVu Sans" ')
    assert "<?xml" not in svg and "DOCTYPE" not in svg and 'id="' not in svg


def test_barcode_svg_is_deterministic_and_fits() -> None:
    first = code128_svg("LAB1-26-000042", width_mm=40)
    assert first == code128_svg("LAB1-26-000042", width_mm=40)
    width = float(re.search(r'width="([\d.]+)mm"', first).group(1))  # type: ignore[union-attr]
    assert width <= 40


def test_barcode_escapes_and_refuses_what_it_cannot_print() -> None:
    assert ">A&lt;B&amp;C</text>" in code128_svg("A<B&C", width_mm=60)
    with pytest.raises(ValueError, match="not valid"):
        code128_svg("Réf-1", width_mm=60)
    with pytest.raises(ValueError, match="does not fit"):
        code128_svg("X" * 40, width_mm=60)
    with pytest.raises(ValueError):
        code128_svg("", width_mm=60)
