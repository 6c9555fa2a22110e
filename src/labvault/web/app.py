"""The FastAPI application: JSON API under /api/v1, OpenAPI at /api/v1/openapi.json (token required)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp

from labvault.platform import Platform
from labvault.security.checkpoint_schedule import CheckpointSchedule
from labvault.security.signer_lease import SignerLease
from labvault.web.deps import CurrentAccount, bearer
from labvault.web.errors import install_error_handlers
from labvault.web.headers import SecurityHeaders
from labvault.web.limits import BodySizeLimit
from labvault.web.routes import (
    alerts,
    audit,
    auth,
    break_glass,
    fhir,
    fhir_results,
    fhir_writes,
    incidents,
    interface,
    labs,
    order_senders,
    orders,
    patients,
    pending_identities,
    physicians,
    qc,
    reports,
    results,
    security_keys,
    specimens,
    support,
)
from labvault.web.ui import UI_PREFIX, routes_auth, routes_keys, routes_pages

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
UNAUTHENTICATED = {
    "description": "No valid bearer token: missing, unknown, expired or revoked (cookies are never read)",
    "headers": {"WWW-Authenticate": {"description": "Always `Bearer`", "schema": {"type": "string"}}},
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"detail": {"type": "string"}},
                "required": ["detail"],
            }
        }
    },
}


class LabvaultAPI(FastAPI):
    """FastAPI whose OpenAPI document makes the bearer token the default requirement (an operation
    is public only where it says so itself, ``openapi_extra={"security": []}``) and documents the
    401 every other operation answers without one."""

    def openapi(self) -> dict[str, Any]:
        document = super().openapi()  # cached by FastAPI: the edits below are idempotent
        default = document.setdefault("security", [{bearer.scheme_name: []}])
        for path_item in document.get("paths", {}).values():
            for method, operation in path_item.items():
                if method in HTTP_METHODS and operation.get("security", default):
                    operation.setdefault("responses", {}).setdefault("401", UNAUTHENTICATED)
        return document


def openapi_document(request: Request, _: CurrentAccount) -> JSONResponse:
    """The OpenAPI document, to authenticated callers only: no route but login and health answers
    an anonymous client (ARCHITECTURE §1), and the document is no exception."""
    app: FastAPI = request.app
    return JSONResponse(app.openapi())


def checkpoint_lifespan(platform: Platform, *, close_platform: bool = False) -> Any:
    """While the app runs, its audit heads are signed on schedule; when it stops gracefully
    (uvicorn runs the lifespan shutdown on SIGTERM and SIGINT alike, before it re-raises the
    signal) they are signed once more, after the last request: no unsigned tail on a normal stop.

    Several processes serving one platform (``serve --workers N``) share the signer lease: one
    signs on schedule, each signs at its own stop (security/signer_lease.py). ``close_platform``:
    the app opened the platform itself (web/worker.py), so it closes it, after that signature."""
    log = logging.getLogger("labvault.audit")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        schedule = CheckpointSchedule(
            platform.db,
            platform.audit,
            interval=platform.settings.checkpoint_interval_seconds,
            events=platform.settings.checkpoint_events,
            report=log.error,
            lease=SignerLease(platform.audit.checkpoint_dir),
        )
        schedule.start()
        try:
            yield
        finally:
            try:
                await to_thread.run_sync(schedule.stop)
            finally:
                if close_platform:
                    platform.close()

    return lifespan


def create_app(platform: Platform, *, close_platform: bool = False) -> ASGIApp:
    """The application over ``platform``; it closes the platform at shutdown only if told it owns
    it (``close_platform``), else the caller does."""
    app = LabvaultAPI(
        lifespan=checkpoint_lifespan(platform, close_platform=close_platform),
        title="labvault",
        version="0.1.0",
        description="Laboratory information system: every identifying field encrypted, every access audited.",
        # FastAPI's own document route is anonymous, and its Swagger UI loads scripts from a CDN,
        # which the Content-Security-Policy forbids: both off, the document served below instead.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.platform = platform
    install_error_handlers(app)
    app.add_api_route(OPENAPI_URL, openapi_document, methods=["GET"], include_in_schema=False)
    app.openapi_url = OPENAPI_URL  # where the document lives, for tooling that looks it up

    @app.get("/healthz", tags=["health"], openapi_extra={"security": []})
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth.router)
    api.include_router(security_keys.router)
    api.include_router(pending_identities.router)  # before /patients/{patient_id}
    api.include_router(patients.router)
    api.include_router(physicians.router)
    api.include_router(labs.router)
    api.include_router(orders.router)
    api.include_router(specimens.router)
    api.include_router(results.router)
    api.include_router(reports.router)
    api.include_router(break_glass.router)
    api.include_router(support.router)
    api.include_router(audit.router)
    api.include_router(alerts.router)
    api.include_router(interface.router)
    api.include_router(order_senders.router)
    api.include_router(incidents.router)
    api.include_router(qc.router)
    app.include_router(api)
    app.include_router(fhir.router, prefix="/fhir")  # FHIR R4: its own root, not under /api/v1
    app.include_router(fhir_results.router, prefix="/fhir")
    app.include_router(fhir_writes.router, prefix="/fhir")

    # The browser UI: cookie sessions, HTML pages, not part of the API's document.
    app.include_router(routes_auth.router, prefix=UI_PREFIX)
    app.include_router(routes_pages.router, prefix=UI_PREFIX)
    app.include_router(routes_keys.router, prefix=UI_PREFIX)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=303)

    return SecurityHeaders(BodySizeLimit(app, platform.settings.max_body_bytes))
