"""Rendering of the UI's pages: Jinja2 templates, every value escaped, no script anywhere (the
pages' Content-Security-Policy allows none: web/headers.py)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, Response

from labvault.web.ui import UI_PREFIX


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("labvault.web.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a missing value is a bug, never a blank on a medical page
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(ui=UI_PREFIX, **values)
    return HTMLResponse(html, status_code=status_code)


def error_page(status: int, message: str) -> HTMLResponse:
    return render("error.html", status, status=status, message=message)


STATIC = {"ui.css": "text/css", "webauthn.js": "text/javascript"}


@cache
def _static(name: str) -> bytes:
    return resources.files("labvault.web.ui").joinpath(f"static/{name}").read_bytes()


def static_response(name: str) -> Response:
    """One of the UI's own files (:data:`STATIC` only: no path from the request reaches the disk)."""
    return Response(_static(name), media_type=STATIC[name])
