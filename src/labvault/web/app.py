"""The FastAPI application: JSON API under /api/v1, OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from labvault.platform import Platform
from labvault.web.errors import install_error_handlers
from labvault.web.headers import SecurityHeaders
from labvault.web.limits import BodySizeLimit
from labvault.web.routes import auth, labs, orders, patients, physicians, reports, results, specimens

API_PREFIX = "/api/v1"


def create_app(platform: Platform) -> ASGIApp:
    app = FastAPI(
        title="labvault",
        version="0.1.0",
        description="Laboratory information system: every identifying field encrypted, every access audited.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.platform = platform
    install_error_handlers(app)

    @app.get("/healthz", tags=["health"], openapi_extra={"security": []})
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth.router)
    api.include_router(patients.router)
    api.include_router(physicians.router)
    api.include_router(labs.router)
    api.include_router(orders.router)
    api.include_router(specimens.router)
    api.include_router(results.router)
    api.include_router(reports.router)
    app.include_router(api)

    return SecurityHeaders(BodySizeLimit(app, platform.settings.max_body_bytes))
