"""HTML to PDF with WeasyPrint, byte for byte reproducible, and never reaching outside the document.

WeasyPrint writes no clock of its own: the creation and modification dates come from the
``dcterms.created``/``dcterms.modified`` meta elements of the HTML (the templates set them from the
issue time), and without them the PDF has no dates at all. The trailer /ID is the MD5 of the PDF body
(pydyf's automatic identifier), so it identifies the content rather than the moment. Font subsets are
named from a hash of the font, not at random. WeasyPrint is imported on first use: serving the HTML
does not need Pango.
"""

from __future__ import annotations

__all__ = ["html_to_pdf"]


def html_to_pdf(html: str) -> bytes:
    """Render self-contained HTML to PDF; any external resource (URL, file, data:) raises ValueError.

    The templates inline everything, so a fetch could only come from injected markup: failing is
    safer than silently fetching, and keeps the output independent of the network and the disk.
    """
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    fetcher = URLFetcher(allowed_protocols=(), fail_on_errors=True)
    try:
        pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf(pdf_identifier=True)
    except FatalURLFetchingError as error:  # a BaseException: callers' "except Exception" would miss it
        raise ValueError(f"the document refers to an external resource: {error}") from error
    return pdf
