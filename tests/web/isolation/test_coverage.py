"""The matrix covers the application: every route it serves has a row in one of this package's
files, and every row a route (``all_routes`` gathers the rows of every ``test_*.py`` here)."""

from __future__ import annotations

from labvault.web.app import API_PREFIX, create_app
from tests.web.isolation.support import World, all_routes, enumerate_routes, fastapi_app


def test_matrix_covers_every_route(world: World) -> None:
    served = enumerate_routes(fastapi_app(create_app(world.platform)))
    api = {key for key in served if key[1].startswith((f"{API_PREFIX}/", "/fhir"))}  # FHIR: test_fhir.py
    assert len(api) >= 15, f"enumeration looks wrong: {sorted(api)}"
    covered = set(all_routes())
    assert api == {key for key in covered if key[1].startswith((f"{API_PREFIX}/", "/fhir"))}, (
        f"routes without a matrix row: {sorted(api - covered)}; rows without a route: {sorted(covered - api)}"
    )
    ui = {key for key in served if key[1].startswith("/ui/")}  # the pages: tests/web/test_ui_routes.py
    outside = {("GET", "/healthz"), ("GET", "/")}
    assert served - api - ui == outside, "only /healthz and / live outside /api/v1, /fhir and /ui"
