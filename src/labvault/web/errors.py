"""Domain errors → HTTP answers with a precise, value-free reason."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from labvault.crypto.errors import IntegrityError, KeyUnavailable
from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from labvault.security.audit import AuditUnavailable
from labvault.security.read_budget import ReadBudgetExceeded
from labvault.store.tenancy import TenantScopeError


def _json(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Pydantic echoes the refused value as "input": drop it, it is usually personal data.
        errors = [{k: v for k, v in e.items() if k not in ("input", "url")} for e in exc.errors()]
        return _json(422, jsonable_encoder(errors))

    @app.exception_handler(InvalidInput)
    async def invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return _json(422, [{"loc": ["body", exc.field], "msg": exc.reason, "type": "invalid_value"}])

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return _json(401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return _json(403, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _json(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "existing_ids": exc.existing_ids}, status_code=409)

    @app.exception_handler(KeyUnavailable)
    async def key_unavailable(_: Request, exc: KeyUnavailable) -> JSONResponse:
        return _json(410, "this laboratory's keys are not available (destroyed or missing)")

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return _json(500, f"stored data failed its integrity check: {exc}")

    @app.exception_handler(ReadBudgetExceeded)
    async def over_budget(_: Request, exc: ReadBudgetExceeded) -> JSONResponse:
        # The alert of the refusal was recorded as the refused transaction rolled back.
        return _json(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(AuditUnavailable)
    async def audit_down(_: Request, exc: AuditUnavailable) -> JSONResponse:
        return _json(503, "the audit log cannot be written; access refused")

    @app.exception_handler(TenantScopeError)
    async def scope(_: Request, exc: TenantScopeError) -> JSONResponse:
        return _json(500, "internal tenant scoping error")
