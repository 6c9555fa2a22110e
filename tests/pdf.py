"""The text of a PDF the application produced (reports, labels, cumulative histories)."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_lines(pdf: bytes) -> list[str]:
    """Every page's text lines, in order (for tests that read a table row by row)."""
    reader = PdfReader(io.BytesIO(pdf))
    return [row for page in reader.pages for row in page.extract_text().splitlines()]


def pdf_text(pdf: bytes) -> str:
    """All pages' text, whitespace collapsed: where a long line wraps does not matter."""
    return " ".join(" ".join(pdf_lines(pdf)).split())
