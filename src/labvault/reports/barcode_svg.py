"""Code 128 barcodes as inline SVG, drawn by python-barcode and sized to fit a label.

The output depends only on the data and the sizes asked for (python-barcode is pinned), so a label
sheet renders to the same bytes every time.
"""

from __future__ import annotations

import math
from typing import Final

from barcode import Code128
from barcode.errors import BarcodeError
from barcode.writer import SVGWriter

__all__ = ["MIN_MODULE_MM", "code128_pattern", "code128_svg"]

# Narrowest bar the usual hospital scanners read reliably (7.5 mil); thinner raises rather than print
# a label that fails at the bedside.
MIN_MODULE_MM: Final = 0.19
_MAX_MODULE_MM: Final = 0.33
_QUIET_MODULES: Final = 10  # Code 128 asks for a quiet zone of 10 modules on each side
_SVG_START: Final = "<svg "


def code128_pattern(data: str) -> str:
    """The modules of ``data`` as "1" (bar) and "0" (space): start, data, checksum, stop.

    Raises ValueError (not python-barcode's own error) for a character Code 128 cannot encode.
    """
    try:
        pattern: str = Code128(data).build()[0]
    except BarcodeError as error:
        raise ValueError(str(error)) from error
    return pattern


def code128_svg(data: str, *, width_mm: float, bar_height_mm: float = 9.0, font_size_pt: float = 7.0) -> str:
    """An ``<svg>`` element (no XML prologue, ready to inline in HTML) of ``data`` in Code 128.

    The module width is chosen so bars and quiet zones fit in ``width_mm``, at most 0.33 mm; the
    human-readable text python-barcode prints under the bars is set in DejaVu Sans like the rest.
    Raises ValueError if the data holds characters Code 128 cannot encode or is too long to fit.
    """
    if not data:
        raise ValueError("a barcode needs at least one character")
    modules = len(code128_pattern(data))
    # Rounded down to the micrometre: short decimals in the SVG, and never wider than asked.
    module_mm = math.floor(min(_MAX_MODULE_MM, width_mm / (modules + 2 * _QUIET_MODULES)) * 1000) / 1000
    if module_mm < MIN_MODULE_MM:
        raise ValueError(f"barcode {data!r} ({modules} modules) does not fit in {width_mm} mm")
    writer = SVGWriter()
    writer.with_doctype = False
    writer.compress = True  # one line, no pretty-printing whitespace
    raw: bytes = Code128(data, writer=writer).render(
        {
            "module_width": module_mm,
            "module_height": bar_height_mm,
            "quiet_zone": module_mm * _QUIET_MODULES,
            "font_size": font_size_pt,
            "text_distance": round(font_size_pt * 0.42, 3),
            "margin_top": 0.5,
            "margin_bottom": 0.5,
        }
    )
    svg = raw.decode("utf-8")
    svg = svg[svg.index(_SVG_START) :]  # drop <?xml ...?>, meaningless (and invalid) inside HTML
    # Many labels share one page: an id would repeat, a class does not. The font is inherited by the
    # text under the bars, which would otherwise be whatever fontconfig calls sans-serif.
    svg = svg.replace('id="barcode_group"', 'class="barcode-bars"', 1)
    return svg.replace(_SVG_START, '<svg class="barcode" font-family="DejaVu Sans" ', 1)
